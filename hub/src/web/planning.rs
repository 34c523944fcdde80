//! The planning page: for the channel, slow-moving and sunk stock per site
//! (`/v1/plan/sunk`); for one site, its reorder suggestions with their
//! inputs (`/v1/plan/reorder`), its ABC/XYZ matrix (`/v1/plan/matrix`),
//! its lines by days of supply (`/v1/plan/policy`), its sinking lines
//! (`/v1/plan/sunk?by=line`) and, for a chosen SKU or category, the
//! forecast from a past day against what sold (`/v1/plan/forecast`,
//! `/v1/plan/backtest`, `/v1/sales?by=day`). The same plan functions and
//! views as those routes; the site's policy is computed once for the
//! three tables built on it, and the chosen series read once for its
//! forecast and backtest (`plan::forecasts_against_actual`). Every table
//! downloads (`/planning.csv?table=…`).

use super::i18n::{Lang, Msg};
use super::page::{self, Col, Export, Grid, Nav, esc, given};
use super::session::Signed;
use super::url_encode;
use crate::error::{HubError, Result};
use crate::http::api::{AppState, blocking, lock};
use crate::http::views::{self, BacktestView, MatrixView, ReorderView, StockPolicyView, SunkView};
use crate::plan::{self, policy::PolicyParams, sunk::SunkBy};
use crate::store::{Decision, PlanDecision, Role, SalesFilter, SeriesBy, SeriesOf};
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{Days, NaiveDate};
use rust_decimal::Decimal;
use serde::Deserialize;
use std::fmt::Write;

/// The sunk window, in days: the API's default.
const SUNK_DAYS: u32 = 90;
/// The longest note a planner leaves on a decision, in characters.
const MAX_NOTE: usize = 500;
/// Days of history shown before a forecast starts, and its default length.
const SHOWN_HISTORY: u64 = 28;
const HORIZON: u32 = 28;

#[derive(Debug, Default, Deserialize)]
pub(super) struct PlanningQuery {
    site: Option<String>,
    abc: Option<String>,
    xyz: Option<String>,
    sku: Option<String>,
    category: Option<String>,
    as_of: Option<String>,
    horizon: Option<u32>,
    table: Option<String>,
    /// The pages of the reorder, policy and sinking tables.
    rpage: Option<usize>,
    ppage: Option<usize>,
    spage: Option<usize>,
    /// The page of the channel's sunk stock.
    page: Option<usize>,
}

/// A class filter: one of `allowed` (any case), or none.
fn class(field: &str, v: &Option<String>, allowed: &[&str]) -> Result<Option<String>> {
    match given(v).map(|c| c.to_ascii_uppercase()) {
        None => Ok(None),
        Some(c) if allowed.contains(&c.as_str()) => Ok(Some(c)),
        Some(c) => Err(HubError::Invalid(format!(
            "{field} {c:?} is not valid: use {}",
            allowed.join(", ")
        ))),
    }
}

/// The chosen series: by SKU or by category, of the page's site.
struct SeriesAsked {
    by: SeriesBy,
    of: SeriesOf,
    as_of: NaiveDate,
    horizon: u32,
}

struct Asked {
    site: Option<String>,
    abc: Option<String>,
    xyz: Option<String>,
    series: Option<SeriesAsked>,
}

impl Asked {
    fn new(q: &PlanningQuery) -> Result<Asked> {
        let site = given(&q.site);
        let (sku, category) = (given(&q.sku), given(&q.category));
        let series = match (&site, &sku, &category) {
            (_, Some(_), Some(_)) => {
                return Err(HubError::Invalid(
                    "sku and category are both given: choose one series".into(),
                ));
            }
            (None, Some(_), _) | (None, _, Some(_)) => {
                return Err(HubError::Invalid(
                    "a forecast needs the site its series is of: give site too".into(),
                ));
            }
            (Some(_), None, None) => None,
            (Some(s), _, _) => {
                let today = plan::as_of(None)?;
                let as_of = match given(&q.as_of) {
                    Some(d) => plan::as_of(Some(&d))?,
                    None => today - Days::new(u64::from(HORIZON)),
                };
                Some(SeriesAsked {
                    by: if sku.is_some() {
                        SeriesBy::SiteSku
                    } else {
                        SeriesBy::SiteCategory
                    },
                    of: SeriesOf {
                        site: Some(s.clone()),
                        location: None,
                        sku: sku.clone(),
                        category: category.clone(),
                    },
                    as_of,
                    horizon: plan::check_horizon(q.horizon.unwrap_or(HORIZON))?,
                })
            }
            (None, None, None) => None,
        };
        Ok(Asked {
            site,
            abc: class("abc", &q.abc, &["A", "B", "C"])?,
            xyz: class("xyz", &q.xyz, &["X", "Y", "Z"])?,
            series,
        })
    }
}

/// The forecast of a chosen series against its sales.
struct SeriesData {
    /// Day, net qty sold (the days with sales), from the history shown
    /// to the end of the horizon or today.
    actual: Vec<(String, Decimal)>,
    forecast: Vec<views::ForecastView>,
    backtest: Option<BacktestView>,
}

struct SiteData {
    policy: Vec<StockPolicyView>,
    matrix: Vec<MatrixView>,
    reorder: Vec<ReorderView>,
    sinking: Vec<SunkView>,
    series: Option<SeriesData>,
}

struct PlanningData {
    /// Every site (id, name), for the site chooser.
    sites: Vec<(String, String)>,
    /// `/v1/plan/sunk` by site, when no site is chosen.
    sunk: Vec<SunkView>,
    site: Option<SiteData>,
}

fn read_series(hub: &AppState, s: &SeriesAsked) -> Result<SeriesData> {
    let store = lock(&hub.reads);
    let stale = hub.stale_after_secs;
    let (forecast, backtest) =
        match plan::forecasts_against_actual(&store, s.by, &s.of, s.as_of, s.horizon, stale)?
            .into_iter()
            .next()
        {
            Some((f, b, stale)) => (
                views::ForecastView::of(s.by.keys(), f, stale),
                Some(BacktestView::new(s.by.keys(), b, stale)),
            ),
            None => (Vec::new(), None),
        };
    let from = s.as_of - Days::new(SHOWN_HISTORY);
    let to = (s.as_of + Days::new(u64::from(s.horizon))).min(plan::as_of(None)? + Days::new(1));
    let actual = if from < to {
        let f = SalesFilter::parse(
            Some("day"),
            Some(&from.to_string()),
            Some(&to.to_string()),
            s.of.site.clone(),
            None,
            None,
            s.of.category.clone(),
            s.of.sku.clone(),
        )?;
        store
            .sales(&f)?
            .into_iter()
            .map(|r| {
                let v = views::SalesView::new(&f.by, r);
                (
                    v.keys.get("day").cloned().unwrap_or_default(),
                    v.net_qty.decimal(),
                )
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok(SeriesData {
        actual,
        forecast,
        backtest,
    })
}

fn read(hub: &AppState, a: &Asked) -> Result<PlanningData> {
    let stale = hub.stale_after_secs;
    let as_of = plan::as_of(None)?;
    let (sites, sunk, site) = {
        let store = lock(&hub.reads);
        let sites = store
            .sites(chrono::Utc::now(), stale)?
            .into_iter()
            .map(|s| (s.id, s.name))
            .collect();
        match &a.site {
            None => {
                let sunk = plan::sunk(&store, None, SunkBy::Site, SUNK_DAYS, as_of, stale)?;
                (sites, views::all(sunk), None)
            }
            Some(site) => {
                let params = PolicyParams::new(&hub.config.plan, as_of, None, None, None)?;
                let rows = plan::policy::policy(&store, &hub.config, Some(site), None, &params)?;
                let matrix = views::all(plan::policy::matrix(&rows));
                let reorder = views::all(plan::reorder_of(&store, &rows, as_of)?);
                let sinking = views::all(plan::sunk(
                    &store,
                    Some(site),
                    SunkBy::Line,
                    SUNK_DAYS,
                    as_of,
                    stale,
                )?);
                let mut policy: Vec<StockPolicyView> = views::all(rows);
                policy.retain(|r| {
                    a.abc.as_deref().is_none_or(|c| c == r.abc)
                        && a.xyz.as_deref().is_none_or(|c| c == r.xyz)
                });
                // Fewest days of supply first; lines without demand last.
                policy.sort_by(|x, y| match (x.days_of_supply, y.days_of_supply) {
                    (Some(a), Some(b)) => a.cmp(&b),
                    (Some(_), None) => std::cmp::Ordering::Less,
                    (None, Some(_)) => std::cmp::Ordering::Greater,
                    (None, None) => (&x.location, &x.sku).cmp(&(&y.location, &y.sku)),
                });
                let site_data = SiteData {
                    policy,
                    matrix,
                    reorder,
                    sinking,
                    series: None,
                };
                (sites, Vec::new(), Some(site_data))
            }
        }
    };
    let site = match (site, &a.series) {
        (Some(mut d), Some(s)) => {
            d.series = Some(read_series(hub, s)?);
            Some(d)
        }
        (d, _) => d,
    };
    Ok(PlanningData { sites, sunk, site })
}

fn opt(v: Option<Decimal>) -> String {
    v.map_or(String::new(), |d| d.to_string())
}

/// The stock at dealer price; empty when none of it has a dealer price
/// (so a planner never reads "0" for "not priced").
fn dealer_value(r: &SunkView) -> String {
    if r.no_dealer_price_qty == r.qty && !r.qty.decimal().is_zero() {
        String::new()
    } else {
        r.dealer_value.to_string()
    }
}

fn sunk_grid(l: Lang, rows: &[SunkView]) -> Grid {
    let mut g = Grid::new(
        "sunk",
        vec![
            (l.t(Msg::Site), Col::Text),
            (l.t(Msg::Tier), Col::Tier),
            (l.t(Msg::Lines), Col::Figure),
            (l.t(Msg::NoSaleLines), Col::Figure),
            (l.t(Msg::OverSupplyLines), Col::Figure),
            (l.t(Msg::Qty), Col::Figure),
            (l.t(Msg::Value), Col::Money),
            (l.t(Msg::DealerValue), Col::Figure),
            (l.t(Msg::Unvalued), Col::Figure),
        ],
    );
    for r in rows {
        g.push(
            vec![
                r.key.clone(),
                r.tier.clone(),
                r.lines.to_string(),
                r.no_sale_lines.to_string(),
                r.over_supply_lines.to_string(),
                r.qty.decimal().to_string(),
                r.value.to_string(),
                dealer_value(r),
                r.unvalued_qty.decimal().to_string(),
            ],
            Some(format!("/planning?site={}", url_encode(&r.key))),
        );
    }
    g
}

/// A planner's forms on a suggestion: ordered (with the qty), or dismissed.
fn decide_form(l: Lang, csrf: &str, as_of: NaiveDate, r: &ReorderView) -> String {
    format!(
        "<form method=\"post\" action=\"/planning/decide\" class=\"inline decide\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <input type=\"hidden\" name=\"site\" value=\"{site}\">\
         <input type=\"hidden\" name=\"location\" value=\"{location}\">\
         <input type=\"hidden\" name=\"sku\" value=\"{sku}\">\
         <input type=\"hidden\" name=\"as_of\" value=\"{as_of}\">\
         <input name=\"qty\" value=\"{qty}\" size=\"7\" aria-label=\"{qty_label}\">\
         <input name=\"note\" size=\"10\" maxlength=\"{MAX_NOTE}\" placeholder=\"{note}\" aria-label=\"{note}\">\
         <button type=\"submit\" name=\"decision\" value=\"ordered\">{ordered}</button> \
         <button type=\"submit\" name=\"decision\" value=\"dismissed\" class=\"quiet\">{dismiss}</button></form>",
        csrf = esc(csrf),
        site = esc(&r.site),
        location = esc(&r.location),
        sku = esc(&r.sku),
        qty = esc(&r.qty.to_string()),
        qty_label = l.t(Msg::OrderQty),
        note = l.t(Msg::Note),
        ordered = l.t(Msg::MarkOrdered),
        dismiss = l.t(Msg::Dismiss),
    )
}

/// The suggestions; with `actions` (a planner's CSRF token and the plan
/// day), a column of forms to decide on each.
fn reorder_grid(l: Lang, rows: &[ReorderView], actions: Option<(&str, NaiveDate)>) -> Grid {
    let mut cols = vec![
        (l.t(Msg::Sku), Col::Text),
        (l.t(Msg::Location), Col::Text),
        (l.t(Msg::Action), Col::Text),
        (l.t(Msg::Source), Col::Text),
        (l.t(Msg::OrderQty), Col::Figure),
        (l.t(Msg::Need), Col::Figure),
        (l.t(Msg::OnHand), Col::Figure),
        (l.t(Msg::InTransit), Col::Figure),
        (l.t(Msg::ReorderPoint), Col::Figure),
        (l.t(Msg::OrderUpTo), Col::Figure),
        (l.t(Msg::SafetyStock), Col::Figure),
        (l.t(Msg::DailyDemand), Col::Figure),
        (l.t(Msg::LeadTime), Col::Figure),
        ("ABC", Col::Text),
        ("XYZ", Col::Text),
        (l.t(Msg::Method), Col::Text),
        (l.t(Msg::SourceOnHand), Col::Figure),
        ("EOQ", Col::Figure),
        (l.t(Msg::PackSize), Col::Figure),
        (l.t(Msg::Decision), Col::Text),
        (l.t(Msg::DecidedBy), Col::Text),
    ];
    if actions.is_some() {
        cols.push((l.t(Msg::Actions), Col::Html));
    }
    let mut g = Grid::new("reorder", cols);
    for r in rows {
        let p = &r.inputs;
        let decision = r.decision.as_ref().map_or(String::new(), |d| {
            let what = l.t(if d.decision == "ordered" {
                Msg::Ordered
            } else {
                Msg::Dismissed
            });
            let qty = d.qty.map_or(String::new(), |q| format!(" {q}"));
            let note = if d.note.is_empty() {
                String::new()
            } else {
                format!(" · {}", d.note)
            };
            format!("{what}{qty}{note}")
        });
        let by = r
            .decision
            .as_ref()
            .map_or(String::new(), |d| d.decided_by.clone());
        let mut cells = vec![
            r.sku.clone(),
            r.location.clone(),
            l.t(if r.action == "transfer" {
                Msg::TransferAction
            } else {
                Msg::PurchaseAction
            })
            .to_owned(),
            r.source.clone(),
            r.qty.to_string(),
            r.need.to_string(),
            p.on_hand.to_string(),
            p.in_transit.to_string(),
            p.reorder_point.to_string(),
            p.order_up_to.to_string(),
            p.safety_stock.to_string(),
            p.daily_demand.to_string(),
            p.lead_time_days.to_string(),
            p.abc.to_owned(),
            p.xyz.to_owned(),
            p.method.to_owned(),
            opt(r.source_on_hand),
            opt(p.eoq),
            opt(p.pack_size),
            decision,
            by,
        ];
        if let Some((csrf, as_of)) = actions {
            cells.push(decide_form(l, csrf, as_of, r));
        }
        g.push(
            cells,
            Some(format!(
                "/planning?site={}&sku={}",
                url_encode(&r.site),
                url_encode(&r.sku)
            )),
        );
    }
    g
}

fn policy_grid(l: Lang, rows: &[StockPolicyView]) -> Grid {
    let mut g = Grid::new(
        "policy",
        vec![
            (l.t(Msg::Sku), Col::Text),
            (l.t(Msg::Location), Col::Text),
            (l.t(Msg::Category), Col::Text),
            ("ABC", Col::Text),
            ("XYZ", Col::Text),
            (l.t(Msg::DaysOfSupply), Col::Figure),
            (l.t(Msg::OnHand), Col::Figure),
            (l.t(Msg::InTransit), Col::Figure),
            (l.t(Msg::DailyDemand), Col::Figure),
            (l.t(Msg::ReorderPoint), Col::Figure),
            (l.t(Msg::OrderUpTo), Col::Figure),
            (l.t(Msg::SafetyStock), Col::Figure),
            (l.t(Msg::Method), Col::Text),
        ],
    );
    for r in rows {
        g.push(
            vec![
                r.sku.clone(),
                r.location.clone(),
                r.category.clone(),
                r.abc.to_owned(),
                r.xyz.to_owned(),
                opt(r.days_of_supply),
                r.on_hand.to_string(),
                r.in_transit.to_string(),
                r.daily_demand.to_string(),
                r.reorder_point.to_string(),
                r.order_up_to.to_string(),
                r.safety_stock.to_string(),
                r.method.to_owned(),
            ],
            Some(format!(
                "/planning?site={}&sku={}",
                url_encode(&r.site),
                url_encode(&r.sku)
            )),
        );
    }
    g
}

fn sinking_grid(l: Lang, rows: &[SunkView]) -> Grid {
    let mut g = Grid::new(
        "sinking",
        vec![
            (l.t(Msg::Sku), Col::Text),
            (l.t(Msg::Location), Col::Text),
            (l.t(Msg::Reason), Col::Text),
            (l.t(Msg::LastSale), Col::Text),
            (l.t(Msg::DaysOfSupply), Col::Figure),
            (l.t(Msg::Qty), Col::Figure),
            (l.t(Msg::Value), Col::Money),
            (l.t(Msg::DealerValue), Col::Figure),
        ],
    );
    for r in rows {
        g.push(
            vec![
                r.sku.clone().unwrap_or_default(),
                r.location.clone().unwrap_or_default(),
                l.t(if r.reason == Some("no_sale") {
                    Msg::NoSaleReason
                } else {
                    Msg::OverSupplyReason
                })
                .to_owned(),
                r.last_sale.clone().unwrap_or_default(),
                opt(r.days_of_supply),
                r.qty.decimal().to_string(),
                r.value.to_string(),
                dealer_value(r),
            ],
            None,
        );
    }
    g
}

fn matrix_grid(l: Lang, cells: &[MatrixView]) -> Grid {
    let mut g = Grid::new(
        "matrix",
        vec![
            ("ABC", Col::Text),
            ("XYZ", Col::Text),
            (l.t(Msg::Lines), Col::Figure),
            (l.t(Msg::AtReorder), Col::Figure),
            (l.t(Msg::OnHand), Col::Figure),
            (l.t(Msg::DailyDemand), Col::Figure),
        ],
    );
    for c in cells {
        g.push(
            vec![
                c.abc.to_owned(),
                c.xyz.to_owned(),
                c.lines.to_string(),
                c.at_reorder.to_string(),
                c.on_hand.to_string(),
                c.daily_demand.to_string(),
            ],
            None,
        );
    }
    g
}

/// The matrix as a 3×3 table: each cell its lines (and those to reorder),
/// linking to the site's lines of that cell.
fn matrix_html(l: Lang, site: &str, cells: &[MatrixView]) -> String {
    let mut h = String::from(
        "<div class=\"scroll\"><table id=\"abc-xyz\" class=\"matrix\"><thead><tr><th></th>\
         <th>X</th><th>Y</th><th>Z</th></tr></thead><tbody>",
    );
    for abc in ["A", "B", "C"] {
        let _ = write!(h, "<tr><th>{abc}</th>");
        for xyz in ["X", "Y", "Z"] {
            let c = cells.iter().find(|c| c.abc == abc && c.xyz == xyz);
            let (lines, at) = c.map_or((0, 0), |c| (c.lines, c.at_reorder));
            let _ = write!(
                h,
                "<td><a class=\"drill\" id=\"cell-{abc}{xyz}\" href=\"/planning?site={}&amp;abc={abc}&amp;xyz={xyz}#policy\">\
                 <span data-value=\"{lines}\">{}</span></a><span class=\"muted\">{} {}</span></td>",
                esc(&url_encode(site)),
                l.number(&lines.to_string()),
                l.number(&at.to_string()),
                l.t(Msg::ToReorder),
            );
        }
        h.push_str("</tr>");
    }
    h.push_str("</tbody></table></div>");
    h
}

fn site_select(l: Lang, sites: &[(String, String)], chosen: Option<&str>) -> String {
    let mut h = format!(
        "<select name=\"site\" id=\"site\"><option value=\"\">{}</option>",
        l.t(Msg::AllSites)
    );
    for (id, name) in sites {
        let sel = if Some(id.as_str()) == chosen {
            " selected"
        } else {
            ""
        };
        let _ = write!(
            h,
            "<option value=\"{}\"{sel}>{} · {}</option>",
            esc(id),
            esc(id),
            esc(name)
        );
    }
    h.push_str("</select>");
    h
}

/// The forecast-against-actual section of a chosen series.
fn series_html(l: Lang, s: &SeriesAsked, d: &SeriesData) -> String {
    let key =
        s.of.sku
            .as_deref()
            .or(s.of.category.as_deref())
            .unwrap_or("");
    let mut h = format!(
        "<section id=\"series\"><h2>{} · {}</h2>",
        l.t(Msg::ForecastVsActual),
        esc(key)
    );
    if d.forecast.is_empty() && d.actual.is_empty() {
        let _ = write!(h, "<p class=\"muted\">{}</p></section>", l.t(Msg::NoSeries));
        return h;
    }
    let from = s.as_of - Days::new(SHOWN_HISTORY);
    let end = s.as_of + Days::new(u64::from(s.horizon));
    let today = plan::as_of(None).unwrap_or(end);
    let mut days = Vec::new();
    let mut day = from;
    while day < end {
        let text = day.to_string();
        let actual = (day <= today).then(|| {
            d.actual
                .iter()
                .find(|(d, _)| *d == text)
                .map_or(Decimal::ZERO, |(_, q)| *q)
                .to_string()
        });
        let forecast = d
            .forecast
            .iter()
            .find(|f| f.date == text)
            .map(|f| f.qty.to_string());
        days.push((text, actual, forecast));
        day = day + Days::new(1);
    }
    let _ = write!(
        h,
        "<p class=\"legend\"><span class=\"sw actual\"></span>{} <span class=\"sw forecast\"></span>{} · {} {}</p>",
        l.t(Msg::Actual),
        l.t(Msg::Forecast),
        l.t(Msg::ForecastFrom),
        s.as_of
    );
    h.push_str(&page::forecast_chart(
        l,
        "chart-forecast",
        l.t(Msg::ForecastVsActual),
        &days,
    ));
    if let Some(b) = &d.backtest {
        let f = |v: Option<f64>| v.map_or("—".to_owned(), |v| format!("{v:.4}"));
        let _ = write!(
            h,
            "<p id=\"backtest\">{}: <strong>{}</strong> · RMSSE: {} · {}: {} · {}: {} / {}</p>",
            l.t(Msg::Method),
            esc(b.method),
            f(b.rmsse),
            l.t(Msg::SeasonalNaive),
            f(b.seasonal_naive_rmsse),
            l.t(Msg::ForecastTotal),
            l.number(&format!("{:.1}", b.forecast_qty)),
            l.number(&format!("{:.1}", b.actual_qty)),
        );
    }
    let mut g = Grid::new(
        "forecast",
        vec![
            (l.t(Msg::Day), Col::Text),
            (l.t(Msg::Actual), Col::Figure),
            (l.t(Msg::Forecast), Col::Figure),
        ],
    );
    for (day, a, f) in days.into_iter().rev() {
        g.push(
            vec![day, a.unwrap_or_default(), f.unwrap_or_default()],
            None,
        );
    }
    let _ = write!(
        h,
        "<details><summary>{}</summary>{}</details></section>",
        l.t(Msg::ByDay),
        g.html(l, 0, g.rows.len())
    );
    h
}

/// Where a table of the planning page sits (see [`page::Place`]).
fn at<'a>(
    query: &'a str,
    table: &'static str,
    page_param: &'static str,
    page: Option<usize>,
) -> page::Place<'a> {
    page::Place {
        path: "planning",
        query,
        table: Some(table),
        page_param,
        page,
    }
}

/// `GET /planning`, `/planning.csv` and `/planning.xlsx`
/// (`table=sunk|reorder|matrix|policy|sinking`).
pub(super) async fn planning(
    State(hub): State<AppState>,
    s: Signed,
    uri: Uri,
    Query(q): Query<PlanningQuery>,
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
    let site_q = asked
        .site
        .as_deref()
        .map_or(String::new(), |s| format!("site={}", url_encode(s)));

    if let Some(format) = page::export_of(uri.path()) {
        let ext = if format == Export::Csv { "csv" } else { "xlsx" };
        let table = q.table.as_deref().unwrap_or("");
        let grid = match (&data.site, table) {
            (None, "sunk") => sunk_grid(l, &data.sunk),
            (Some(d), "reorder") => reorder_grid(l, &d.reorder, None),
            (Some(d), "matrix") => matrix_grid(l, &d.matrix),
            (Some(d), "policy") => policy_grid(l, &d.policy),
            (Some(d), "sinking") => sinking_grid(l, &d.sinking),
            _ => {
                return page::error(
                    &s,
                    StatusCode::BAD_REQUEST,
                    &format!(
                        "table {table:?} is not valid: use sunk (no site), or reorder, matrix, policy or sinking (with site)"
                    ),
                );
            }
        };
        let name = match &asked.site {
            Some(site) => format!("{table}-{site}.{ext}"),
            None => format!("{table}.{ext}"),
        };
        return grid.download(format, &name);
    }

    let mut main = format!(
        "<form method=\"get\" action=\"/planning\" class=\"filters\">\
         <label>{}{}</label><label>{}<input name=\"sku\" value=\"{}\"></label>\
         <label>{}<input name=\"category\" value=\"{}\"></label>\
         <label>{}<input type=\"date\" name=\"as_of\" value=\"{}\"></label>\
         <button type=\"submit\">{}</button></form>",
        l.t(Msg::Site),
        site_select(l, &data.sites, asked.site.as_deref()),
        l.t(Msg::Sku),
        esc(q.sku.as_deref().unwrap_or("")),
        l.t(Msg::Category),
        esc(q.category.as_deref().unwrap_or("")),
        l.t(Msg::ForecastFrom),
        asked
            .series
            .as_ref()
            .map_or(String::new(), |s| s.as_of.to_string()),
        l.t(Msg::Apply),
    );
    match (&asked.site, &data.site) {
        (Some(site), Some(d)) => {
            if let (Some(sa), Some(sd)) = (&asked.series, &d.series) {
                main.push_str(&series_html(l, sa, sd));
            }
            let planner = s.user.role >= Role::Planner;
            let today = plan::as_of(None).unwrap_or_default();
            let reorder = reorder_grid(
                l,
                &d.reorder,
                planner.then_some((s.user.csrf.as_str(), today)),
            );
            let _ = write!(
                main,
                "<section><h2>{} <span class=\"muted\">{}</span></h2>",
                l.t(Msg::ReorderSuggestions),
                l.number(&reorder.rows.len().to_string())
            );
            if reorder.rows.is_empty() {
                let _ = write!(
                    main,
                    "<p class=\"muted\">{}</p>",
                    l.t(Msg::NothingToReorder)
                );
            } else {
                main.push_str(&reorder.paged(l, &at(&site_q, "reorder", "rpage", q.rpage)));
            }
            main.push_str("</section>");

            let _ = write!(
                main,
                "<section><h2>{}</h2>{}{}</section>",
                l.t(Msg::AbcXyz),
                matrix_html(l, site, &d.matrix),
                page::export_links_of(
                    l,
                    "planning",
                    "matrix",
                    &format!("{site_q}&amp;table=matrix")
                )
            );

            let policy = policy_grid(l, &d.policy);
            let cell = match (&asked.abc, &asked.xyz) {
                (None, None) => String::new(),
                (a, x) => format!(
                    " · {}{}",
                    esc(a.as_deref().unwrap_or("")),
                    esc(x.as_deref().unwrap_or(""))
                ),
            };
            let class_q = [("abc", &asked.abc), ("xyz", &asked.xyz)]
                .iter()
                .filter_map(|(k, v)| v.as_ref().map(|v| format!("&amp;{k}={v}")))
                .collect::<String>();
            let _ = write!(
                main,
                "<section><h2>{}{cell}</h2>",
                l.t(Msg::DaysOfSupplyTitle)
            );
            let policy_q = format!("{site_q}{class_q}");
            main.push_str(&policy.paged(l, &at(&policy_q, "policy", "ppage", q.ppage)));
            main.push_str("</section>");

            let sinking = sinking_grid(l, &d.sinking);
            let _ = write!(
                main,
                "<section><h2>{}</h2><p class=\"muted\">{}</p>",
                l.t(Msg::SlowAndSunk),
                l.t(Msg::SunkNote)
            );
            if sinking.rows.is_empty() {
                let _ = write!(main, "<p class=\"muted\">{}</p>", l.t(Msg::NothingSinking));
            } else {
                main.push_str(&sinking.paged(l, &at(&site_q, "sinking", "spage", q.spage)));
            }
            main.push_str("</section>");
        }
        _ => {
            let sunk = sunk_grid(l, &data.sunk);
            let _ = write!(
                main,
                "<section><h2>{}</h2><p class=\"muted\">{} {}</p>",
                l.t(Msg::SlowAndSunk),
                l.t(Msg::SunkNote),
                l.t(Msg::ChooseSite)
            );
            if sunk.rows.is_empty() {
                let _ = write!(main, "<p class=\"muted\">{}</p>", l.t(Msg::NothingSinking));
            } else {
                let bars: Vec<(String, String)> = data
                    .sunk
                    .iter()
                    .take(20)
                    .map(|r| (r.key.clone(), r.qty.decimal().to_string()))
                    .collect();
                main.push_str(&page::bar_chart(l, "chart-sunk", l.t(Msg::Qty), &bars));
                main.push_str(&sunk.paged(l, &at("", "sunk", "page", q.page)));
            }
            main.push_str("</section>");
        }
    }
    let back = match &asked.site {
        Some(site) => format!("/planning?site={}", url_encode(site)),
        None => "/planning".to_owned(),
    };
    page::with_headers(
        StatusCode::OK,
        page::frame(&s, Nav::Planning, l.t(Msg::Planning), &back, &main),
    )
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct DecideForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    site: String,
    #[serde(default)]
    location: String,
    #[serde(default)]
    sku: String,
    #[serde(default)]
    as_of: String,
    #[serde(default)]
    decision: String,
    #[serde(default)]
    qty: String,
    #[serde(default)]
    note: String,
}

impl DecideForm {
    /// The decision the form asks to record for `by`, checked field by field.
    fn decision(&self, by: &str) -> Result<PlanDecision> {
        let need = |field: &str, v: &str| {
            if v.trim().is_empty() {
                Err(HubError::Invalid(format!("{field} is missing")))
            } else {
                Ok(v.trim().to_owned())
            }
        };
        let decision = Decision::parse(self.decision.trim())?;
        let qty = match (decision, self.qty.trim()) {
            (Decision::Dismissed, _) => None,
            (Decision::Ordered, q) => {
                let parsed = q.parse::<Decimal>().ok().filter(|d| *d > Decimal::ZERO);
                Some(parsed.ok_or_else(|| {
                    HubError::Invalid(format!(
                        "qty {q:?} is not valid: the qty ordered, a number above 0"
                    ))
                })?)
            }
        };
        let note = self.note.trim().to_owned();
        if note.chars().count() > MAX_NOTE {
            return Err(HubError::Invalid(format!(
                "note is {} characters: at most {MAX_NOTE}",
                note.chars().count()
            )));
        }
        Ok(PlanDecision {
            site: need("site", &self.site)?,
            location: need("location", &self.location)?,
            sku: need("sku", &self.sku)?,
            as_of: plan::as_of(Some(&need("as_of", &self.as_of)?))?,
            decision,
            qty: qty.map(|q| q.normalize()),
            note,
            decided_by: by.to_owned(),
            decided_at: crate::store::now_text(chrono::Utc::now()),
        })
    }
}

/// `POST /planning/decide` (planners and admins): a suggestion ordered or
/// dismissed, shown beside it (and in `/v1/plan/reorder`) for the day.
pub(super) async fn decide(
    State(hub): State<AppState>,
    s: Signed,
    Form(f): Form<DecideForm>,
) -> Response {
    if let Err(r) = s
        .require(Role::Planner)
        .and_then(|()| s.check_csrf(&f.csrf))
    {
        return r.into_response();
    }
    let d = match f.decision(&s.user.name) {
        Ok(d) => d,
        Err(e) => return page::error(&s, e.status(), &e.to_string()),
    };
    let back = format!("/planning?site={}#reorder", url_encode(&d.site));
    let logged = (d.site.clone(), d.sku.clone(), d.decision.as_str());
    match blocking(move || lock(&hub.store).decide(&d)).await {
        Ok(()) => {
            tracing::info!(site = %logged.0, sku = %logged.1, decision = logged.2, by = %s.user.name, "reorder suggestion decided on the dashboard");
            Redirect::to(&back).into_response()
        }
        Err(e) => page::error(&s, e.status(), &e.to_string()),
    }
}
