//! The sales-flow page 销售流向: revenue, quantity and gross margin over time
//! (day, week or month) and by region, tier, site, category, customer or
//! SKU, through `/v1/sales`' `Store::sales` and `SalesView`; and sell-in
//! against sell-through per dealer or region, through `/v1/channel`'s
//! `Store::channel` and `ChannelView`. Each of its tables downloads as CSV
//! and Excel (`/sales.csv?table=…`), whole, with the API's exact figures.

use super::i18n::{Lang, Msg};
use super::page::{self, Col, Export, Grid, Nav, given};
use super::session::Signed;
use super::url_encode;
use crate::error::{HubError, Result};
use crate::http::api::{AppState, blocking, lock};
use crate::http::views::{self, ChannelView, SalesView};
use crate::store::{ChannelBy, SalesFilter, SalesKey};
use axum::extract::{Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use chrono::{Days, NaiveDate};
use serde::Deserialize;
use std::fmt::Write;

/// Days shown when no `from` is given: twelve weeks.
const DEFAULT_DAYS: u64 = 84;
/// The longest window shown by day (a year) and by week (five years).
const MAX_DAYS_BY_DAY: i64 = 366;
const MAX_DAYS_BY_WEEK: i64 = 5 * 366;

/// The page's query: the API's filters, the period and the group, and
/// which table a download is of.
#[derive(Debug, Default, Deserialize)]
pub(super) struct SalesQuery {
    period: Option<String>,
    by: Option<String>,
    from: Option<String>,
    to: Option<String>,
    site: Option<String>,
    region: Option<String>,
    kind: Option<String>,
    category: Option<String>,
    table: Option<String>,
    /// The pages of the groups, of the periods and of the dealers.
    page: Option<usize>,
    tpage: Option<usize>,
    cpage: Option<usize>,
}

/// The time keys a page may chart by.
const PERIODS: [(SalesKey, Msg); 3] = [
    (SalesKey::Day, Msg::Day),
    (SalesKey::Week, Msg::Week),
    (SalesKey::Month, Msg::Month),
];

/// The keys a page may group by.
const GROUPS: [(SalesKey, Msg); 6] = [
    (SalesKey::Region, Msg::Region),
    (SalesKey::Kind, Msg::Tier),
    (SalesKey::Site, Msg::Site),
    (SalesKey::Category, Msg::Category),
    (SalesKey::Customer, Msg::Customer),
    (SalesKey::Sku, Msg::Sku),
];

/// One of `choices` by its name, or the first; a name not among them is
/// refused naming the field.
fn choose(field: &str, v: &Option<String>, choices: &[(SalesKey, Msg)]) -> Result<(SalesKey, Msg)> {
    match given(v) {
        None => Ok(choices[0]),
        Some(name) => choices
            .iter()
            .find(|(k, _)| k.as_str() == name)
            .copied()
            .ok_or_else(|| {
                let names: Vec<&str> = choices.iter().map(|(k, _)| k.as_str()).collect();
                HubError::Invalid(format!(
                    "{field} {name:?} is not valid: use {}",
                    names.join(", ")
                ))
            }),
    }
}

/// What the page asked for, checked.
struct Asked {
    period: (SalesKey, Msg),
    group: (SalesKey, Msg),
    from: NaiveDate,
    to: NaiveDate,
    site: Option<String>,
    region: Option<String>,
    kind: Option<String>,
    category: Option<String>,
}

impl Asked {
    fn new(q: &SalesQuery) -> Result<Asked> {
        let (from, to) = crate::store::channel_period(
            given(&q.from).as_deref(),
            given(&q.to).as_deref(),
            crate::plan::as_of(None)?,
        )?;
        // Twelve weeks by default (the channel's own default is four).
        let from = if given(&q.from).is_none() {
            to - Days::new(DEFAULT_DAYS)
        } else {
            from
        };
        let period = choose("period", &q.period, &PERIODS)?;
        // A page shows every period of its window: bounded, so that no
        // page grows past what a planner reads (and 500 KB).
        let days = (to - from).num_days();
        let most = match period.0 {
            SalesKey::Day => Some(MAX_DAYS_BY_DAY),
            SalesKey::Week => Some(MAX_DAYS_BY_WEEK),
            _ => None,
        };
        if let Some(most) = most.filter(|m| days > *m) {
            return Err(HubError::Invalid(format!(
                "period {} over {days} days is not valid: at most {most} days; choose a longer period",
                period.0.as_str()
            )));
        }
        Ok(Asked {
            period,
            group: choose("by", &q.by, &GROUPS)?,
            from,
            to,
            site: given(&q.site),
            region: given(&q.region),
            kind: given(&q.kind),
            category: given(&q.category),
        })
    }

    fn filter(&self, by: SalesKey) -> Result<SalesFilter> {
        let (from, to) = (self.from.to_string(), self.to.to_string());
        SalesFilter::parse(
            Some(by.as_str()),
            Some(&from),
            Some(&to),
            self.site.clone(),
            self.region.clone(),
            self.kind.clone(),
            self.category.clone(),
            None,
        )
    }

    /// The page's query string (escaped for HTML), without the page number.
    fn query(&self) -> String {
        let pairs = [
            ("period", Some(self.period.0.as_str().to_owned())),
            ("by", Some(self.group.0.as_str().to_owned())),
            ("from", Some(self.from.to_string())),
            ("to", Some(self.to.to_string())),
            ("site", self.site.clone()),
            ("region", self.region.clone()),
            ("kind", self.kind.clone()),
            ("category", self.category.clone()),
        ];
        pairs
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", url_encode(v))))
            .collect::<Vec<_>>()
            .join("&amp;")
    }
}

/// The three reads of the page, in one go from the read pool.
struct SalesData {
    over_time: Vec<SalesView>,
    groups: Vec<SalesView>,
    channel: Vec<ChannelView>,
}

fn read(hub: &AppState, a: &Asked) -> Result<SalesData> {
    let store = lock(&hub.reads);
    let rows = |by: SalesKey| -> Result<Vec<SalesView>> {
        let f = a.filter(by)?;
        Ok(store
            .sales(&f)?
            .into_iter()
            .map(|r| SalesView::new(&f.by, r))
            .collect())
    };
    let over_time = rows(a.period.0)?;
    let mut groups = rows(a.group.0)?;
    // Largest revenue first; groups with no priced sales after, by qty.
    groups.sort_by(|x, y| {
        y.revenue
            .cmp(&x.revenue)
            .then(y.net_qty.decimal().cmp(&x.net_qty.decimal()))
    });
    let by = if a.group.0 == SalesKey::Region {
        ChannelBy::Region
    } else {
        ChannelBy::Site
    };
    let channel = views::all::<_, ChannelView>(store.channel(by, a.from, a.to)?);
    Ok(SalesData {
        over_time,
        groups,
        channel,
    })
}

fn money(v: Option<rust_decimal::Decimal>) -> String {
    v.map_or(String::new(), |d| d.to_string())
}

/// A table of sales views keyed by `key` (shown under `head`).
fn sales_grid(l: Lang, id: &'static str, key: SalesKey, head: &str, rows: &[SalesView]) -> Grid {
    let mut g = Grid::new(
        id,
        vec![
            (
                head,
                if key == SalesKey::Kind {
                    Col::Tier
                } else {
                    Col::Text
                },
            ),
            (l.t(Msg::Qty), Col::Figure),
            (l.t(Msg::Returns), Col::Figure),
            (l.t(Msg::NetQty), Col::Figure),
            (l.t(Msg::Revenue), Col::Money),
            (l.t(Msg::Cogs), Col::Money),
            (l.t(Msg::Margin), Col::Money),
            (l.t(Msg::MarginPct), Col::Money),
            (l.t(Msg::UnpricedQty), Col::Figure),
        ],
    );
    for r in rows {
        let k = r.keys.get(key.as_str()).cloned().unwrap_or_default();
        let link = match key {
            SalesKey::Region => Some(format!("/sales?by=site&region={}", url_encode(&k))),
            SalesKey::Kind => Some(format!("/sales?by=site&kind={}", url_encode(&k))),
            SalesKey::Site => Some(format!("/sales?by=category&site={}", url_encode(&k))),
            _ => None,
        };
        g.push(
            vec![
                k,
                r.qty.decimal().to_string(),
                r.returns.decimal().to_string(),
                r.net_qty.decimal().to_string(),
                money(r.revenue),
                money(r.cogs),
                money(r.margin),
                money(r.margin_pct),
                r.unpriced_qty.decimal().to_string(),
            ],
            link,
        );
    }
    g
}

fn channel_grid(l: Lang, by_region: bool, rows: &[ChannelView]) -> Grid {
    let mut g = Grid::new(
        "channel",
        vec![
            (
                l.t(if by_region { Msg::Region } else { Msg::Dealer }),
                Col::Text,
            ),
            (l.t(Msg::SellIn), Col::Figure),
            (l.t(Msg::SellThrough), Col::Figure),
            (l.t(Msg::Change), Col::Figure),
            (l.t(Msg::OnHand), Col::Figure),
            (l.t(Msg::WeeksOfCover), Col::Figure),
        ],
    );
    for r in rows {
        g.push(
            vec![
                r.key.clone(),
                r.sell_in.decimal().to_string(),
                r.sell_through.decimal().to_string(),
                r.change.decimal().to_string(),
                r.on_hand.decimal().to_string(),
                r.weeks_of_cover.map_or(String::new(), |w| w.to_string()),
            ],
            None,
        );
    }
    g
}

fn select(l: Lang, name: &str, chosen: SalesKey, choices: &[(SalesKey, Msg)]) -> String {
    let mut h = format!("<select name=\"{name}\" id=\"{name}\">");
    for (k, m) in choices {
        let sel = if *k == chosen { " selected" } else { "" };
        let _ = write!(
            h,
            "<option value=\"{}\"{sel}>{}</option>",
            k.as_str(),
            l.t(*m)
        );
    }
    h.push_str("</select>");
    h
}

/// `GET /sales`, `/sales.csv` and `/sales.xlsx` (`table=time|groups|channel`).
pub(super) async fn sales(
    State(hub): State<AppState>,
    s: Signed,
    uri: Uri,
    Query(q): Query<SalesQuery>,
) -> Response {
    let l = s.lang;
    let asked = match Asked::new(&q) {
        Ok(a) => a,
        Err(e) => return page::error(&s, e.status(), &e.to_string()),
    };
    let (data, asked) = match blocking(move || read(&hub, &asked).map(|d| (d, asked))).await {
        Ok(d) => d,
        Err(e) => return page::error(&s, e.status(), &e.to_string()),
    };
    let period_head = l.t(asked.period.1);
    let time = sales_grid(
        l,
        "sales-time",
        asked.period.0,
        period_head,
        &data.over_time,
    );
    let groups = sales_grid(
        l,
        "sales-groups",
        asked.group.0,
        l.t(asked.group.1),
        &data.groups,
    );
    let by_region = asked.group.0 == SalesKey::Region;
    let channel = channel_grid(l, by_region, &data.channel);

    if let Some(format) = page::export_of(uri.path()) {
        let ext = if format == Export::Csv { "csv" } else { "xlsx" };
        return match q.table.as_deref().unwrap_or("groups") {
            "time" => time.download(format, &format!("sales-{}.{ext}", asked.period.0.as_str())),
            "groups" => groups.download(format, &format!("sales-{}.{ext}", asked.group.0.as_str())),
            "channel" => channel.download(format, &format!("sell-in.{ext}")),
            other => page::error(
                &s,
                StatusCode::BAD_REQUEST,
                &format!("table {other:?} is not valid: use time, groups or channel"),
            ),
        };
    }

    let query = asked.query();
    let at = |table: &'static str, page_param: &'static str, page: Option<usize>| page::Place {
        path: "sales",
        query: &query,
        table: Some(table),
        page_param,
        page,
    };
    let mut main = format!(
        "<form method=\"get\" action=\"/sales\" class=\"filters\">\
         <label>{}{}</label><label>{}{}</label>\
         <label>{}<input type=\"date\" name=\"from\" value=\"{}\"></label>\
         <label>{}<input type=\"date\" name=\"to\" value=\"{}\"></label>",
        l.t(Msg::Period),
        select(l, "period", asked.period.0, &PERIODS),
        l.t(Msg::GroupBy),
        select(l, "by", asked.group.0, &GROUPS),
        l.t(Msg::FromDay),
        asked.from,
        l.t(Msg::ToDay),
        asked.to,
    );
    main.push_str(&page::text_filters(
        l,
        &[
            ("region", Msg::Region, &asked.region),
            ("kind", Msg::Tier, &asked.kind),
            ("site", Msg::Site, &asked.site),
            ("category", Msg::Category, &asked.category),
        ],
    ));

    // Over time: revenue where any is priced, else the net qty.
    let priced = data.over_time.iter().any(|r| r.revenue.is_some());
    let bars: Vec<(String, String)> = data
        .over_time
        .iter()
        .map(|r| {
            let k = r
                .keys
                .get(asked.period.0.as_str())
                .cloned()
                .unwrap_or_default();
            let v = if priced {
                r.revenue.unwrap_or_default()
            } else {
                r.net_qty.decimal()
            };
            (k, v.to_string())
        })
        .collect();
    // By day, every day of the period is a column (days without sales at 0).
    let bars = if asked.period.0 == SalesKey::Day {
        let mut all = Vec::new();
        let mut day = asked.from;
        while day < asked.to {
            let d = day.to_string();
            let v = bars
                .iter()
                .find(|(k, _)| *k == d)
                .map_or_else(|| "0".to_owned(), |(_, v)| v.clone());
            all.push((d, v));
            day = day + Days::new(1);
        }
        all
    } else {
        bars
    };
    let what = l.t(if priced { Msg::Revenue } else { Msg::NetQty });
    let _ = write!(main, "<section><h2>{} · {}</h2>", what, l.t(asked.period.1));
    if data.over_time.is_empty() {
        let _ = write!(main, "<p class=\"muted\">{}</p>", l.t(Msg::NoSalesInPeriod));
    } else {
        main.push_str(&page::column_chart(l, "chart-sales", what, &bars));
        main.push_str(&time.paged(l, &at("time", "tpage", q.tpage)));
    }
    main.push_str("</section>");

    // By the chosen group, paged.
    let _ = write!(
        main,
        "<section><h2>{} · {}</h2>",
        l.t(Msg::SalesFlow),
        l.t(asked.group.1)
    );
    main.push_str(&groups.paged(l, &at("groups", "page", q.page)));
    main.push_str("</section>");

    // Sell-in against sell-through.
    let _ = write!(
        main,
        "<section><h2>{}</h2><p class=\"muted\">{}</p>",
        l.t(Msg::SellInVsThrough),
        l.t(Msg::SellInNote)
    );
    if data.channel.is_empty() {
        let _ = write!(main, "<p class=\"muted\">{}</p>", l.t(Msg::NoDealers));
    } else {
        main.push_str(&channel.paged(l, &at("channel", "cpage", q.cpage)));
    }
    main.push_str("</section>");
    page::with_headers(
        StatusCode::OK,
        page::frame(
            &s,
            Nav::Sales,
            l.t(Msg::SalesFlow),
            &format!("/sales?{}", query.replace("&amp;", "&")),
            &main,
        ),
    )
}
