//! The inventory page, grouped by up to two keys and filtered as
//! `/v1/inventory` is (the same `Store::inventory` and `InventoryView`), and
//! the movements page (`/v1/movements`' `Store::movements`, paged). Each
//! group links one level down — region or tier → site → location → its
//! movements; a SKU at a site → its movements — so any figure can be traced
//! to the records that make it.

use super::i18n::{self, Lang, Msg};
use super::page::{self, Nav, Table, esc, figure};
use super::session::Signed;
use super::url_encode;
use crate::http::api::{AppState, blocking, lock, movements_cursor};
use crate::http::views::{self, InventoryView, MovementView};
use crate::store::{GroupBy, InventoryFilter, MovementsOf};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use std::fmt::Write;

/// Groups an inventory page shows; the rest are on the next pages.
const INVENTORY_PAGE: usize = 200;
/// Movements a page shows.
const MOVEMENTS_PAGE: u32 = 100;

/// The page's query: the API's, plus a second key from the form and a page.
#[derive(Debug, Default, Deserialize)]
pub(super) struct InventoryQuery {
    by: Option<String>,
    by2: Option<String>,
    site: Option<String>,
    region: Option<String>,
    kind: Option<String>,
    sku: Option<String>,
    page: Option<usize>,
}

fn given(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// `?k=v&…` of the pairs whose value is given.
fn query(pairs: &[(&str, Option<&str>)]) -> String {
    let q: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| v.map(|v| format!("{k}={}", url_encode(v))))
        .collect();
    format!("?{}", q.join("&amp;"))
}

const KEYS: [(GroupBy, Msg); 5] = [
    (GroupBy::Region, Msg::Region),
    (GroupBy::Kind, Msg::Tier),
    (GroupBy::Site, Msg::Site),
    (GroupBy::Location, Msg::Location),
    (GroupBy::Sku, Msg::Sku),
];

fn key_select(l: Lang, name: &str, chosen: Option<GroupBy>, none: bool) -> String {
    let mut h = format!("<select name=\"{name}\" id=\"{name}\">");
    if none {
        let _ = write!(h, "<option value=\"\">—</option>");
    }
    for (k, m) in KEYS {
        let sel = if Some(k) == chosen { " selected" } else { "" };
        let _ = write!(
            h,
            "<option value=\"{}\"{sel}>{}</option>",
            k.as_str(),
            l.t(m)
        );
    }
    h.push_str("</select>");
    h
}

/// `GET /inventory`.
pub(super) async fn inventory(
    State(hub): State<AppState>,
    s: Signed,
    Query(q): Query<InventoryQuery>,
) -> Response {
    let l = s.lang;
    let keys = [given(&q.by), given(&q.by2)]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(",");
    let by = match GroupBy::parse_list(if keys.is_empty() { "region" } else { &keys }) {
        Ok(by) if by.len() <= 2 => by,
        Ok(by) => {
            return page::error(
                &s,
                StatusCode::BAD_REQUEST,
                &format!(
                    "by {:?} is not valid: group by one or two keys",
                    keys_text(&by)
                ),
            );
        }
        Err(e) => return page::error(&s, e.status(), &e.to_string()),
    };
    let filter = InventoryFilter {
        by: by.clone(),
        site: given(&q.site),
        region: given(&q.region),
        kind: given(&q.kind),
        sku: given(&q.sku),
    };
    let f = filter.clone();
    let rows: Vec<InventoryView> = match blocking(move || lock(&hub.reads).inventory(&f)).await {
        Ok(rows) => rows
            .into_iter()
            .map(|r| InventoryView::new(&by, r))
            .collect(),
        Err(e) => return page::error(&s, e.status(), &e.to_string()),
    };
    let pages = rows.len().div_ceil(INVENTORY_PAGE).max(1);
    let page_no = q.page.unwrap_or(1).clamp(1, pages);

    let mut main = format!(
        "<form method=\"get\" action=\"/inventory\" class=\"filters\">\
         <label>{}<span>{}{}</span></label>",
        l.t(Msg::GroupBy),
        key_select(l, "by", by.first().copied(), false),
        key_select(l, "by2", by.get(1).copied(), true),
    );
    for (name, m, v) in [
        ("region", Msg::Region, &filter.region),
        ("kind", Msg::Tier, &filter.kind),
        ("site", Msg::Site, &filter.site),
        ("sku", Msg::Sku, &filter.sku),
    ] {
        let _ = write!(
            main,
            "<label>{}<input name=\"{name}\" value=\"{}\"></label>",
            l.t(m),
            esc(v.as_deref().unwrap_or(""))
        );
    }
    let _ = write!(
        main,
        "<button type=\"submit\">{}</button></form>",
        l.t(Msg::Apply)
    );

    let mut head: Vec<&str> = by
        .iter()
        .map(|k| {
            KEYS.iter()
                .find(|(g, _)| g == k)
                .map_or("", |(_, m)| l.t(*m))
        })
        .collect();
    head.extend([
        l.t(Msg::OnHand),
        l.t(Msg::InTransit),
        l.t(Msg::Value),
        l.t(Msg::NotUpdated),
        l.t(Msg::Unvalued),
    ]);
    let mut numeric = vec![false; by.len()];
    numeric.extend([true; 5]);
    let mut t = Table::new("inventory", head, numeric);
    for r in rows
        .iter()
        .skip((page_no - 1) * INVENTORY_PAGE)
        .take(INVENTORY_PAGE)
    {
        let mut cells: Vec<String> = by
            .iter()
            .map(|k| {
                let v = r.keys.get(k.as_str()).map_or("", String::as_str);
                drill(l, *k, v, r, &filter)
            })
            .collect();
        cells.extend([
            figure(l, &r.on_hand.decimal().to_string()),
            figure(l, &r.in_transit.decimal().to_string()),
            figure(l, &r.value.to_string()),
            figure(l, &r.not_updated.decimal().to_string()),
            figure(l, &r.unvalued.decimal().to_string()),
        ]);
        t.rows.push(cells);
    }
    main.push_str(&t.html());
    if pages > 1 {
        let at = |p: usize| {
            format!(
                "/inventory{}",
                query(&[
                    ("by", Some(&keys_text(&by))),
                    ("site", filter.site.as_deref()),
                    ("region", filter.region.as_deref()),
                    ("kind", filter.kind.as_deref()),
                    ("sku", filter.sku.as_deref()),
                    ("page", Some(&p.to_string())),
                ])
            )
        };
        let _ = write!(main, "<nav class=\"pager\">");
        if page_no > 1 {
            let _ = write!(
                main,
                "<a href=\"{}\" id=\"prev-page\">←</a> ",
                at(page_no - 1)
            );
        }
        let _ = write!(main, "{page_no} / {pages}");
        if page_no < pages {
            let _ = write!(
                main,
                " <a href=\"{}\" id=\"next-page\">→</a>",
                at(page_no + 1)
            );
        }
        main.push_str("</nav>");
    }
    page::with_headers(
        StatusCode::OK,
        page::frame(&s, Nav::Inventory, l.t(Msg::Inventory), "/inventory", &main),
    )
}

fn keys_text(by: &[GroupBy]) -> String {
    by.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(",")
}

/// A group's key as a link one level down.
fn drill(l: Lang, key: GroupBy, v: &str, r: &InventoryView, f: &InventoryFilter) -> String {
    let site = r.keys.get("site").map(String::as_str).or(f.site.as_deref());
    let href = match key {
        GroupBy::Region => format!(
            "/inventory{}",
            query(&[("by", Some("site")), ("region", Some(v))])
        ),
        GroupBy::Kind => format!(
            "/inventory{}",
            query(&[("by", Some("site")), ("kind", Some(v))])
        ),
        GroupBy::Site => format!(
            "/inventory{}",
            query(&[("by", Some("location,sku")), ("site", Some(v))])
        ),
        GroupBy::Location => format!(
            "/movements{}",
            query(&[
                ("site", v.split_once('/').map(|(s, _)| s)),
                ("location", v.split_once('/').map(|(_, loc)| loc)),
                (
                    "sku",
                    r.keys.get("sku").map(String::as_str).or(f.sku.as_deref())
                ),
            ])
        ),
        GroupBy::Sku => match site {
            Some(site) => format!(
                "/movements{}",
                query(&[("site", Some(site)), ("sku", Some(v))])
            ),
            None => format!(
                "/inventory{}",
                query(&[("by", Some("site")), ("sku", Some(v))])
            ),
        },
    };
    let shown = if key == GroupBy::Kind {
        i18n::tier(l, v)
    } else {
        v
    };
    format!("<a class=\"drill\" href=\"{href}\">{}</a>", esc(shown))
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct MovementsQuery {
    site: Option<String>,
    location: Option<String>,
    sku: Option<String>,
    after: Option<String>,
}

/// `GET /movements`: the records behind a figure, oldest first, paged.
pub(super) async fn movements(
    State(hub): State<AppState>,
    s: Signed,
    Query(q): Query<MovementsQuery>,
) -> Response {
    let l = s.lang;
    let (site, after) = (given(&q.site), given(&q.after));
    let cursor = match movements_cursor(after.as_deref()) {
        Ok(c) => c,
        Err(e) => return page::error(&s, e.status(), &e.to_string()),
    };
    let of = MovementsOf {
        location: given(&q.location),
        sku: given(&q.sku),
    };
    let (site2, of2) = (site.clone(), of.clone());
    let rows = match blocking(move || {
        lock(&hub.reads).movements(
            site2.as_deref(),
            &of2,
            (&cursor.0, cursor.1),
            MOVEMENTS_PAGE,
        )
    })
    .await
    {
        Ok(r) => views::all::<_, MovementView>(r),
        Err(e) => return page::error(&s, e.status(), &e.to_string()),
    };
    let z = *chrono::Local::now().offset();
    let what: Vec<&str> = [site.as_deref(), of.location.as_deref(), of.sku.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    let mut main = format!(
        "<p class=\"muted\" id=\"movements-of\">{}</p>",
        esc(&what.join(" · "))
    );
    let mut t = Table::new(
        "movements",
        vec![
            l.t(Msg::Site),
            "seq",
            l.t(Msg::Occurred),
            l.t(Msg::Type),
            l.t(Msg::Location),
            l.t(Msg::Sku),
            l.t(Msg::Lot),
            l.t(Msg::Qty),
            l.t(Msg::UnitCost),
            l.t(Msg::UnitPrice),
            l.t(Msg::Counterparty),
            l.t(Msg::Reference),
        ],
        vec![
            false, true, false, false, false, false, false, true, true, true, false, false,
        ],
    );
    for m in &rows {
        t.rows.push(vec![
            esc(&m.site),
            m.seq.to_string(),
            esc(&l.time(&m.occurred_at, z)),
            esc(&m.kind),
            esc(&m.location),
            esc(&m.sku),
            esc(&m.lot),
            figure(l, &m.qty.decimal().to_string()),
            figure(l, &m.unit_cost),
            m.unit_price
                .as_deref()
                .map_or(String::new(), |p| figure(l, p)),
            esc(m.counterparty.as_deref().unwrap_or("")),
            esc(m.reference.as_deref().unwrap_or("")),
        ]);
    }
    main.push_str(&t.html());
    if rows.len() == MOVEMENTS_PAGE as usize
        && let Some(last) = rows.last()
    {
        let next = format!("{}:{}", last.site, last.seq);
        let _ = write!(
            main,
            "<nav class=\"pager\"><a id=\"next-page\" href=\"/movements{}\">→</a></nav>",
            query(&[
                ("site", site.as_deref()),
                ("location", of.location.as_deref()),
                ("sku", of.sku.as_deref()),
                ("after", Some(&next)),
            ])
        );
    }
    page::with_headers(
        StatusCode::OK,
        page::frame(&s, Nav::Inventory, l.t(Msg::Movements), "/movements", &main),
    )
}
