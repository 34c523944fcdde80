//! The frame every dashboard page shares (navigation, the language switch,
//! sign-out) and the small HTML writers the pages are made of. Every text
//! that comes from data goes through [`esc`].

use super::i18n::{Lang, Msg};
use super::session::Signed;
use crate::store::Role;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::fmt::Write;

/// `s` with HTML's special characters escaped, for text and attributes.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Headers every page carries: no script or style from anywhere but the
/// hub itself, no framing, not cached (pages hold figures of the moment).
pub fn with_headers(status: StatusCode, html: String) -> Response {
    let mut res = (status, html).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    res
}

/// The document around `body`, without navigation (the sign-in page).
pub fn document(lang: Lang, title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"{}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · {}</title><link rel=\"icon\" href=\"/assets/favicon.svg\" type=\"image/svg+xml\"><link rel=\"stylesheet\" href=\"/assets/app.css\"></head>\
         <body>{body}</body></html>\n",
        lang.code(),
        esc(title),
        lang.t(Msg::Title),
    )
}

/// Which navigation entry a page is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Overview,
    Inventory,
    Sales,
    Planning,
    Alerts,
    Transfers,
    Quarantine,
    Sites,
    Users,
    None,
}

/// A signed-in page: navigation for the user's role, the language switch
/// and sign-out, then `main`.
pub fn frame(s: &Signed, nav: Nav, title: &str, path: &str, main: &str) -> String {
    let l = s.lang;
    let mut links = vec![
        (Nav::Overview, "/", Msg::Overview),
        (Nav::Inventory, "/inventory", Msg::Inventory),
        (Nav::Sales, "/sales", Msg::SalesFlow),
        (Nav::Planning, "/planning", Msg::Planning),
        (Nav::Alerts, "/alerts", Msg::Alerts),
        (Nav::Transfers, "/transfers", Msg::Transfers),
        (Nav::Quarantine, "/quarantine", Msg::Quarantine),
        (Nav::Sites, "/sites", Msg::Sites),
    ];
    if s.user.role >= Role::Admin {
        links.push((Nav::Users, "/users", Msg::Users));
    }
    let mut h = String::from("<header><a class=\"brand\" href=\"/\">");
    h.push_str(l.t(Msg::Title));
    h.push_str("</a><nav>");
    for (n, href, m) in links {
        let current = if n == nav {
            " aria-current=\"page\""
        } else {
            ""
        };
        let _ = write!(h, "<a href=\"{href}\"{current}>{}</a>", l.t(m));
    }
    let other = l.other();
    let csrf = esc(&s.user.csrf);
    let _ = write!(
        h,
        "</nav><div class=\"who\"><span class=\"user\">{} · {}</span>\
         <form method=\"post\" action=\"/lang\" class=\"inline\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <input type=\"hidden\" name=\"lang\" value=\"{}\">\
         <input type=\"hidden\" name=\"back\" value=\"{}\">\
         <button type=\"submit\" id=\"lang-switch\" title=\"{}\">{}</button></form>\
         <form method=\"post\" action=\"/logout\" class=\"inline\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <button type=\"submit\" id=\"sign-out\">{}</button></form></div></header>",
        esc(&s.user.name),
        s.user.role.as_str(),
        other.code(),
        esc(path),
        l.t(Msg::Language),
        other.name(),
        l.t(Msg::SignOut),
    );
    let _ = write!(h, "<main><h1>{}</h1>{main}</main>", esc(title));
    document(l, title, &h)
}

/// An error page for a signed-in user (403, 404) with the navigation.
pub fn error(s: &Signed, status: StatusCode, message: &str) -> Response {
    let main = format!("<p class=\"error\" role=\"alert\">{}</p>", esc(message));
    let title = status.canonical_reason().unwrap_or("Error");
    with_headers(status, frame(s, Nav::None, title, "/", &main))
}

/// A table: a header row and body rows of HTML cells already escaped.
/// `numeric` marks the columns aligned right.
pub struct Table {
    pub id: &'static str,
    pub head: Vec<String>,
    pub numeric: Vec<bool>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(id: &'static str, head: Vec<&str>, numeric: Vec<bool>) -> Table {
        Table {
            id,
            head: head.into_iter().map(esc).collect(),
            numeric,
            rows: Vec::new(),
        }
    }

    pub fn html(&self) -> String {
        let mut h = format!(
            "<div class=\"scroll\"><table id=\"{}\"><thead><tr>",
            self.id
        );
        for (i, c) in self.head.iter().enumerate() {
            let class = if self.numeric.get(i) == Some(&true) {
                " class=\"num\""
            } else {
                ""
            };
            let _ = write!(h, "<th{class}>{c}</th>");
        }
        h.push_str("</tr></thead><tbody>");
        for r in &self.rows {
            h.push_str("<tr>");
            for (i, c) in r.iter().enumerate() {
                let class = if self.numeric.get(i) == Some(&true) {
                    " class=\"num\""
                } else {
                    ""
                };
                let _ = write!(h, "<td{class}>{c}</td>");
            }
            h.push_str("</tr>");
        }
        h.push_str("</tbody></table></div>");
        h
    }
}

/// A figure cell: the number formatted for the language, with the API's
/// exact string in `data-value` (what the browser test compares).
pub fn figure(l: Lang, exact: &str) -> String {
    format!(
        "<span data-value=\"{}\">{}</span>",
        esc(exact),
        esc(&l.number(exact))
    )
}

/// A horizontal bar chart in SVG, drawn at the server: one bar per
/// `(label, exact figure)`, scaled to the largest; the exact figure is
/// written beside its bar, so the chart never shows a rounded number.
pub fn bar_chart(l: Lang, id: &str, title: &str, bars: &[(String, String)]) -> String {
    let values: Vec<f64> = bars
        .iter()
        .map(|(_, v)| v.parse::<f64>().unwrap_or(0.0).max(0.0))
        .collect();
    let max = values.iter().copied().fold(0.0, f64::max);
    let (row, label_w, bar_w) = (28, 140, 360);
    let height = row * bars.len().max(1) + 8;
    let mut s = format!(
        "<figure class=\"chart\"><figcaption>{}</figcaption>\
         <svg id=\"{id}\" role=\"img\" aria-label=\"{}\" viewBox=\"0 0 {} {height}\" \
         xmlns=\"http://www.w3.org/2000/svg\">",
        esc(title),
        esc(title),
        label_w + bar_w + 160,
    );
    for (i, ((label, exact), v)) in bars.iter().zip(&values).enumerate() {
        let y = 4 + i * row;
        let w = if max > 0.0 {
            (v / max * bar_w as f64).round() as usize
        } else {
            0
        };
        let _ = write!(
            s,
            "<text x=\"0\" y=\"{}\" class=\"label\">{}</text>\
             <rect x=\"{label_w}\" y=\"{}\" width=\"{w}\" height=\"{}\" class=\"bar\"></rect>\
             <text x=\"{}\" y=\"{}\" class=\"value\">{}</text>",
            y + 17,
            esc(label),
            y + 3,
            row - 8,
            label_w + w + 6,
            y + 17,
            esc(&l.number(exact)),
        );
    }
    s.push_str("</svg></figure>");
    s
}

/// The formats a table downloads in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Export {
    Csv,
    Xlsx,
}

/// A table as a download named `file`: figures as the API's exact strings.
pub fn download(
    format: Export,
    file: &str,
    head: &[&str],
    numeric: &[bool],
    rows: &[Vec<String>],
) -> Response {
    let built = match format {
        Export::Csv => csv_bytes(head, rows).map(|b| (b, "text/csv; charset=utf-8")),
        Export::Xlsx => xlsx_bytes(head, numeric, rows).map(|b| {
            (
                b,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            )
        }),
    };
    let (body, content_type) = match built {
        Ok(b) => b,
        Err(e) => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the export {file} failed: {e}"),
            )
                .into_response();
        }
    };
    let mut res = (StatusCode::OK, body).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// UTF-8 with a byte-order mark (so Excel reads Chinese right), quoted by
/// the csv crate.
fn csv_bytes(head: &[&str], rows: &[Vec<String>]) -> Result<Vec<u8>, String> {
    let mut w = csv::Writer::from_writer(b"\xEF\xBB\xBF".to_vec());
    w.write_record(head).map_err(|e| e.to_string())?;
    for r in rows {
        w.write_record(r).map_err(|e| e.to_string())?;
    }
    w.into_inner().map_err(|e| e.to_string())
}

/// An Excel workbook of one sheet. A figure is written as a number only
/// when Excel's double holds it exactly (15 significant digits or fewer);
/// any other stays text, so no figure is rounded on the way into Excel.
fn xlsx_bytes(head: &[&str], numeric: &[bool], rows: &[Vec<String>]) -> Result<Vec<u8>, String> {
    use rust_xlsxwriter::{Format, Workbook};
    let err = |e: rust_xlsxwriter::XlsxError| e.to_string();
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    let bold = Format::new().set_bold();
    for (c, h) in head.iter().enumerate() {
        sheet
            .write_string_with_format(0, c as u16, *h, &bold)
            .map_err(err)?;
    }
    for (i, r) in rows.iter().enumerate() {
        let row = i as u32 + 1;
        for (c, v) in r.iter().enumerate() {
            let col = c as u16;
            match exact_number(v).filter(|_| numeric.get(c) == Some(&true)) {
                Some(n) => sheet.write_number(row, col, n).map_err(err)?,
                None if v.is_empty() => continue,
                None => sheet.write_string(row, col, v).map_err(err)?,
            };
        }
    }
    sheet.set_freeze_panes(1, 0).map_err(err)?;
    book.save_to_buffer().map_err(err)
}

/// `s` as a double if it is a plain decimal of at most 15 significant
/// digits (which a double holds exactly enough to print back the same).
fn exact_number(s: &str) -> Option<f64> {
    let digits = s.trim_start_matches('-').replace('.', "");
    let significant = digits.trim_start_matches('0').len();
    let plain = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && s.matches('.').count() <= 1;
    (plain && significant <= 15)
        .then(|| s.parse().ok())
        .flatten()
}

/// The links that download a table (`/NAME.csv`, `/NAME.xlsx`).
pub fn export_links(l: Lang, name: &str) -> String {
    export_links_of(l, name, name, "")
}

/// The links that download the table `id` of the page at `/PATH`, with the
/// page's query (`a=b&amp;c=d`, already escaped for HTML, or empty).
pub fn export_links_of(l: Lang, path: &str, id: &str, query: &str) -> String {
    let q = if query.is_empty() {
        String::new()
    } else {
        format!("?{query}")
    };
    format!(
        "<p class=\"exports\"><a id=\"export-{id}\" href=\"/{path}.csv{q}\" download>{}</a> · \
         <a id=\"export-{id}-xlsx\" href=\"/{path}.xlsx{q}\" download>{}</a></p>",
        l.t(Msg::ExportCsv),
        l.t(Msg::ExportXlsx)
    )
}

/// The format a request's path asks for: `….csv`, `….xlsx`, or a page.
pub fn export_of(path: &str) -> Option<Export> {
    if path.ends_with(".csv") {
        Some(Export::Csv)
    } else if path.ends_with(".xlsx") {
        Some(Export::Xlsx)
    } else {
        None
    }
}

/// How a [`Grid`] column's exact text is shown on the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Col {
    Text,
    /// A site's kind, shown as its tier's name.
    Tier,
    /// A decimal figure (see [`figure`]).
    Figure,
    /// Money: an empty cell is a figure not shared by the dealer's policy.
    Money,
    /// An RFC 3339 time, shown in the hub's zone for the language.
    Time,
    /// A record's text, in small type that wraps.
    Code,
    /// HTML written by the page (a form): shown as is, never downloaded.
    Html,
}

/// A table kept as the API's exact strings, shown on a page (a range of
/// its rows, with figures formatted for the language) and downloaded whole
/// as CSV or Excel: one source for both, so the download is the page.
pub struct Grid {
    pub id: &'static str,
    pub head: Vec<String>,
    pub cols: Vec<Col>,
    pub rows: Vec<Vec<String>>,
    /// Per row, the cells (by column) that link one level down, and where.
    pub links: Vec<Vec<(usize, String)>>,
}

impl Grid {
    pub fn new(id: &'static str, cols: Vec<(&str, Col)>) -> Grid {
        let (head, cols) = cols.into_iter().map(|(h, c)| (h.to_owned(), c)).unzip();
        Grid {
            id,
            head,
            cols,
            rows: Vec::new(),
            links: Vec::new(),
        }
    }

    /// A row whose first cell links to `link`, if given.
    pub fn push(&mut self, cells: Vec<String>, link: Option<String>) {
        self.push_links(cells, link.map(|l| (0, l)).into_iter().collect());
    }

    /// A row with links on the cells `links` names.
    pub fn push_links(&mut self, cells: Vec<String>, links: Vec<(usize, String)>) {
        self.rows.push(cells);
        self.links.push(links);
    }

    /// Rows `skip..skip + take` as an HTML table.
    pub fn html(&self, l: Lang, skip: usize, take: usize) -> String {
        let numeric = self
            .cols
            .iter()
            .map(|c| matches!(c, Col::Figure | Col::Money))
            .collect();
        let mut t = Table::new(self.id, Vec::new(), numeric);
        t.head = self.head.iter().map(|h| esc(h)).collect();
        let zone = *chrono::Local::now().offset();
        for (r, links) in self.rows.iter().zip(&self.links).skip(skip).take(take) {
            let cells = r
                .iter()
                .zip(&self.cols)
                .enumerate()
                .map(|(i, (v, c))| {
                    let linked = links.iter().any(|(c, _)| *c == i);
                    let shown = match c {
                        // A group without a value (no region set, no lot).
                        Col::Text if (i == 0 || linked) && v.is_empty() => "—".to_owned(),
                        Col::Text => esc(v),
                        Col::Tier => esc(super::i18n::tier(l, v)),
                        Col::Figure if v.is_empty() => String::new(),
                        Col::Figure => figure(l, v),
                        Col::Money if v.is_empty() => {
                            format!("<span class=\"muted\">{}</span>", l.t(Msg::NotShared))
                        }
                        Col::Money => figure(l, v),
                        Col::Time => esc(&l.time(v, zone)),
                        Col::Code => format!("<code class=\"record\">{}</code>", esc(v)),
                        Col::Html => v.clone(),
                    };
                    match links.iter().find(|(c, _)| *c == i) {
                        Some((_, href)) => {
                            format!("<a class=\"drill\" href=\"{}\">{shown}</a>", esc(href))
                        }
                        None => shown,
                    }
                })
                .collect();
            t.rows.push(cells);
        }
        t.html()
    }

    /// Every row as a download named `file` (without the page's forms).
    pub fn download(&self, format: Export, file: &str) -> Response {
        let kept: Vec<usize> = (0..self.cols.len())
            .filter(|&i| self.cols[i] != Col::Html)
            .collect();
        let head: Vec<&str> = kept.iter().map(|&i| self.head[i].as_str()).collect();
        let numeric: Vec<bool> = kept
            .iter()
            .map(|&i| matches!(self.cols[i], Col::Figure | Col::Money))
            .collect();
        let rows: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| kept.iter().map(|&i| r[i].clone()).collect())
            .collect();
        download(format, file, &head, &numeric, &rows)
    }
}

/// Rows a page of a table shows; the rest are on the next pages.
pub const PAGE_ROWS: usize = 200;

/// Where a table sits: the page's path (`planning`), its query (escaped
/// for HTML, without the page number), the `table` a download of it names
/// (on pages of several tables), and the query parameter of its page
/// number with the page asked for.
pub struct Place<'a> {
    pub path: &'a str,
    pub query: &'a str,
    pub table: Option<&'a str>,
    pub page_param: &'a str,
    pub page: Option<usize>,
}

impl Place<'_> {
    /// `a&amp;b` of the parts given.
    fn join(parts: &[&str]) -> String {
        parts
            .iter()
            .filter(|p| !p.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join("&amp;")
    }
}

/// A trimmed query value, or none when empty.
pub fn given(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// A filter form's text inputs, each `(name, label, value)`, and its
/// submit button: what closes a page's `<form class="filters">`.
pub fn text_filters(l: Lang, inputs: &[(&str, Msg, &Option<String>)]) -> String {
    let mut h = String::new();
    for (name, m, v) in inputs {
        let _ = write!(
            h,
            "<label>{}<input name=\"{name}\" value=\"{}\"></label>",
            l.t(*m),
            esc(v.as_deref().unwrap_or(""))
        );
    }
    let _ = write!(
        h,
        "<button type=\"submit\">{}</button></form>",
        l.t(Msg::Apply)
    );
    h
}

impl Grid {
    /// The table at `at`: its download links, the page asked for and the
    /// pager under it.
    pub fn paged(&self, l: Lang, at: &Place<'_>) -> String {
        let table = at.table.map(|t| format!("table={t}")).unwrap_or_default();
        let (page, pages) = page_of(self.rows.len(), PAGE_ROWS, at.page);
        let mut h = export_links_of(l, at.path, self.id, &Place::join(&[at.query, &table]));
        h.push_str(&self.html(l, (page - 1) * PAGE_ROWS, PAGE_ROWS));
        h.push_str(&pager(page, pages, |n| {
            let number = format!("{}={n}", at.page_param);
            format!(
                "/{}?{}#{}",
                at.path,
                Place::join(&[at.query, &number]),
                self.id
            )
        }));
        h
    }
}

/// The number of pages of `rows` rows at `per_page` a page, and the page
/// asked for held within them.
pub fn page_of(rows: usize, per_page: usize, asked: Option<usize>) -> (usize, usize) {
    let pages = rows.div_ceil(per_page).max(1);
    (asked.unwrap_or(1).clamp(1, pages), pages)
}

/// Links to the page before and after `page` of `pages`; `at(p)` is the
/// address of page `p`. Nothing when there is one page.
pub fn pager(page: usize, pages: usize, at: impl Fn(usize) -> String) -> String {
    if pages <= 1 {
        return String::new();
    }
    let mut h = String::from("<nav class=\"pager\">");
    if page > 1 {
        let _ = write!(h, "<a href=\"{}\" id=\"prev-page\">←</a> ", at(page - 1));
    }
    let _ = write!(h, "{page} / {pages}");
    if page < pages {
        let _ = write!(h, " <a href=\"{}\" id=\"next-page\">→</a>", at(page + 1));
    }
    h.push_str("</nav>");
    h
}

/// A column chart in SVG for a series over time: one column per
/// `(label, exact figure)` in order, scaled to the largest; each column's
/// exact figure is its tooltip, and the largest is written on the axis.
/// Negative figures (more returned than sold) are drawn below the line.
pub fn column_chart(l: Lang, id: &str, title: &str, bars: &[(String, String)]) -> String {
    let values: Vec<f64> = bars
        .iter()
        .map(|(_, v)| v.parse::<f64>().unwrap_or(0.0))
        .collect();
    let max = values.iter().copied().fold(0.0, f64::max);
    let min = values.iter().copied().fold(0.0, f64::min);
    let (width, plot_h, left, bottom) = (720.0, 180.0, 70.0, 40.0);
    let span = if max - min > 0.0 { max - min } else { 1.0 };
    let zero_y = 10.0 + plot_h * max / span;
    let step = ((width - left) / bars.len().max(1) as f64).min(48.0);
    let label_every = label_spacing(step);
    let mut s = format!(
        "<figure class=\"chart\"><figcaption>{t}</figcaption>\
         <svg id=\"{id}\" role=\"img\" aria-label=\"{t}\" viewBox=\"0 0 {width} {h}\" \
         xmlns=\"http://www.w3.org/2000/svg\">\
         <line x1=\"{left}\" y1=\"{zero_y:.1}\" x2=\"{width}\" y2=\"{zero_y:.1}\" class=\"axis\"></line>",
        t = esc(title),
        h = 10.0 + plot_h + bottom,
    );
    if let Some((_, top)) = bars
        .iter()
        .zip(&values)
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(b, v)| (v, &b.1))
        .filter(|(v, _)| **v > 0.0)
    {
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"16\" class=\"value\" text-anchor=\"end\">{}</text>",
            left - 6.0,
            esc(&l.number(top))
        );
    }
    for (i, ((label, exact), v)) in bars.iter().zip(&values).enumerate() {
        let x = left + i as f64 * step;
        let h = (v.abs() / span * plot_h).max(if *v != 0.0 { 1.0 } else { 0.0 });
        let y = if *v >= 0.0 { zero_y - h } else { zero_y };
        let _ = write!(
            s,
            "<rect x=\"{:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{h:.1}\" class=\"bar\">\
             <title>{} · {}</title></rect>",
            x + step * 0.1,
            (step * 0.8).max(1.0),
            esc(label),
            esc(&l.number(exact)),
        );
        if i % label_every == 0 {
            let _ = write!(
                s,
                "<text x=\"{:.1}\" y=\"{:.1}\" class=\"label\">{}</text>",
                x,
                10.0 + plot_h + 24.0,
                esc(label)
            );
        }
    }
    s.push_str("</svg></figure>");
    s
}

/// Every how many columns of `step` pixels a label goes, so that labels
/// (a date is ~80 px wide) never overlap.
fn label_spacing(step: f64) -> usize {
    if step <= 0.0 {
        1
    } else {
        ((90.0 / step).ceil() as usize).max(1)
    }
}

/// Two series over the same days in SVG (`actual` as columns, `forecast`
/// as a line), scaled together; each day's exact figures are tooltips.
pub fn forecast_chart(
    l: Lang,
    id: &str,
    title: &str,
    days: &[(String, Option<String>, Option<String>)],
) -> String {
    let num = |v: &Option<String>| v.as_deref().and_then(|v| v.parse::<f64>().ok());
    let max = days
        .iter()
        .flat_map(|(_, a, f)| [num(a), num(f)])
        .flatten()
        .fold(0.0, f64::max);
    let (width, plot_h, left) = (720.0, 180.0, 70.0);
    let scale = if max > 0.0 { plot_h / max } else { 0.0 };
    let step = (width - left) / days.len().max(1) as f64;
    let base = 10.0 + plot_h;
    let label_every = label_spacing(step);
    let mut s = format!(
        "<figure class=\"chart\"><figcaption>{t}</figcaption>\
         <svg id=\"{id}\" role=\"img\" aria-label=\"{t}\" viewBox=\"0 0 {width} {}\" \
         xmlns=\"http://www.w3.org/2000/svg\">\
         <line x1=\"{left}\" y1=\"{base}\" x2=\"{width}\" y2=\"{base}\" class=\"axis\"></line>",
        base + 40.0,
        t = esc(title),
    );
    let _ = write!(
        s,
        "<text x=\"{}\" y=\"16\" class=\"value\" text-anchor=\"end\">{}</text>",
        left - 6.0,
        esc(&l.number(&format!("{max:.1}")))
    );
    let mut line = Vec::new();
    for (i, (day, actual, forecast)) in days.iter().enumerate() {
        let x = left + i as f64 * step;
        if let Some(a) = num(actual) {
            let h = a.max(0.0) * scale;
            let _ = write!(
                s,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" class=\"bar\">\
                 <title>{} · {}</title></rect>",
                x + step * 0.15,
                base - h,
                (step * 0.7).max(1.0),
                esc(day),
                esc(&l.number(actual.as_deref().unwrap_or(""))),
            );
        }
        if let Some(f) = num(forecast) {
            line.push(format!(
                "{:.1},{:.1}",
                x + step * 0.5,
                base - f.max(0.0) * scale
            ));
        }
        if i % label_every == 0 {
            let _ = write!(
                s,
                "<text x=\"{x:.1}\" y=\"{:.1}\" class=\"label\">{}</text>",
                base + 24.0,
                esc(day)
            );
        }
    }
    if !line.is_empty() {
        let _ = write!(
            s,
            "<polyline points=\"{}\" class=\"forecast\"></polyline>",
            line.join(" ")
        );
    }
    s.push_str("</svg></figure>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_figures_a_double_holds_go_into_excel_as_numbers() {
        assert_eq!(exact_number("1234.5"), Some(1234.5));
        assert_eq!(exact_number("-0.001"), Some(-0.001));
        assert_eq!(exact_number("123456789012345"), Some(123456789012345.0));
        assert_eq!(exact_number("1234567890123456"), None);
        assert_eq!(exact_number("0.1234567890123456"), None);
        assert_eq!(exact_number(""), None);
        assert_eq!(exact_number("1e5"), None);
        assert_eq!(exact_number("BJ01"), None);
    }

    #[test]
    fn a_csv_starts_with_a_bom_and_quotes_what_needs_it() {
        let b = csv_bytes(&["名称"], &[vec!["西湖龙井, \"特级\"".into()]]).unwrap();
        assert_eq!(
            String::from_utf8(b).unwrap(),
            "\u{feff}名称\n\"西湖龙井, \"\"特级\"\"\"\n"
        );
    }

    #[test]
    fn a_table_pages_at_the_server_and_downloads_with_the_pages_query() {
        let mut g = Grid::new("lines", vec![("SKU", Col::Text), ("qty", Col::Figure)]);
        for i in 0..450 {
            g.push(vec![format!("S{i:03}"), "1234.5".into()], None);
        }
        let at = |page| Place {
            path: "planning",
            query: "site=BJ01",
            table: Some("lines"),
            page_param: "lpage",
            page,
        };
        let last = g.paged(Lang::En, &at(Some(9)));
        assert_eq!(
            last.matches("<tr>").count(),
            1 + 50,
            "the last page, clamped"
        );
        assert!(last.contains("S449") && !last.contains("S399"));
        assert!(last.contains("href=\"/planning.csv?site=BJ01&amp;table=lines\""));
        assert!(last.contains("href=\"/planning?site=BJ01&amp;lpage=2#lines\" id=\"prev-page\""));
        assert!(last.contains("3 / 3") && !last.contains("next-page"));
        let first = g.paged(Lang::En, &at(None));
        assert_eq!(first.matches("<tr>").count(), 1 + PAGE_ROWS);
        assert!(first.contains("data-value=\"1234.5\">1,234.5<"));
    }

    #[test]
    fn a_workbook_is_a_zip() {
        let b = xlsx_bytes(
            &["站点", "qty"],
            &[false, true],
            &[vec!["BJ01".into(), "1.5".into()]],
        )
        .unwrap();
        assert!(b.starts_with(b"PK"));
    }
}
