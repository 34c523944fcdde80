//! What the plans read: holdings with their sales history, from the
//! balances and the sales flow (never the movements). The maths is in
//! `crate::plan`.

use super::Store;
use super::db::{Sql, vals};
use super::query::{SELECTED, SITE_POLICY, check_known};
use crate::error::Result;
use chrono::{Duration, NaiveDate};
use std::collections::HashMap;

/// Joined to a balance `b`: its site's policy `m`, the pairs a selective
/// policy shares `sel`, its product `p`; [`IS_SHARED`] then keeps what HQ
/// sees as it is now (a dealer's stock its policy no longer covers is left
/// out: its sales no longer reach the hub, so it would read as unsold).
fn shared_joins() -> String {
    format!(
        "JOIN {SITE_POLICY} m ON m.id = b.site
         LEFT JOIN {SELECTED} sel ON sel.site = b.site AND sel.sku = b.sku
         LEFT JOIN product p ON p.sku = b.sku"
    )
}

const IS_SHARED: &str = "(m.hidden = 0 OR (m.hidden = 2 AND sel.sku IS NOT NULL))";

/// One (site, location, sku) holding with what it sold.
#[derive(Debug, Clone, PartialEq)]
pub struct HoldingHistory {
    pub site: String,
    pub kind: String,
    pub region: String,
    pub location: String,
    pub sku: String,
    /// The catalog's category ('' when none or not in the catalog).
    pub category: String,
    /// The catalog's dealer price, when it has one.
    pub dealer_price: Option<String>,
    /// On hand, micro-units, summed over lots.
    pub qty: i64,
    /// At moving-average cost, micro-currency.
    pub value: i64,
    /// A dealer that does not share costs: `value` means nothing.
    pub unvalued: bool,
    /// The last business day before `as_of` with a sale.
    pub last_sale: Option<NaiveDate>,
    /// Net qty sold (sales less customer returns) in the `days` before
    /// `as_of`, micro-units.
    pub net_sold: i64,
}

/// Every holding with stock that HQ sees as it is now ([`shared_joins`]),
/// with its sales in the window.
fn holdings(sql: &mut Sql<'_>, as_of: NaiveDate, days: u32) -> Result<Vec<HoldingHistory>> {
    let window_start = (as_of - Duration::days(i64::from(days))).to_string();
    let as_of = as_of.to_string();
    let mut sold: HashMap<(String, String, String), (Option<String>, i64)> = HashMap::new();
    for r in sql.query(
        "SELECT site, location, sku, MAX(CASE WHEN sold > 0 THEN day END),
                CAST(SUM(CASE WHEN day >= ?1 THEN sold - returned ELSE 0 END) AS BIGINT)
         FROM sales_day WHERE day < ?2 GROUP BY site, location, sku",
        vals![window_start, as_of],
    )? {
        sold.insert((r.get(0)?, r.get(1)?, r.get(2)?), (r.get(3)?, r.get(4)?));
    }
    let rows = sql.query(
        &format!(
            "SELECT b.site, m.kind, m.region, b.location, b.sku, COALESCE(p.category, ''), p.dealer_price,
                    CAST(SUM(b.qty) AS BIGINT), CAST(SUM(b.value) AS BIGINT), m.unvalued
             FROM balance b {shared}
             WHERE {IS_SHARED}
             GROUP BY b.site, m.kind, m.region, b.location, b.sku, p.category, p.dealer_price, m.unvalued
             HAVING SUM(b.qty) > 0
             ORDER BY b.site, b.location, b.sku",
            shared = shared_joins()
        ),
        vals![],
    )?;
    rows.iter()
        .map(|r| {
            let key = (r.get(0)?, r.get(3)?, r.get(4)?);
            let (last, net) = sold.remove(&key).unwrap_or((None, 0));
            let (site, location, sku) = key;
            Ok(HoldingHistory {
                site,
                kind: r.get(1)?,
                region: r.get(2)?,
                location,
                sku,
                category: r.get(5)?,
                dealer_price: r.get(6)?,
                qty: r.get(7)?,
                value: r.get(8)?,
                unvalued: r.get(9)?,
                last_sale: last.and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok()),
                net_sold: net,
            })
        })
        .collect()
}

impl Store {
    /// Holdings with stock and their sales in the `days` before `as_of`,
    /// read in one snapshot.
    pub fn holdings_with_sales(&self, as_of: NaiveDate, days: u32) -> Result<Vec<HoldingHistory>> {
        self.db().snapshot(|sql| holdings(sql, as_of, days))
    }
}

/// The series a forecast is made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeriesBy {
    /// Per site and catalog category.
    SiteCategory,
    /// Per site and SKU (all its locations).
    SiteSku,
    /// Per location (`SITE/LOC`) and SKU.
    LocationSku,
}

impl SeriesBy {
    pub fn parse(s: &str) -> Result<SeriesBy> {
        match s.replace(' ', "").as_str() {
            "site,category" => Ok(SeriesBy::SiteCategory),
            "site,sku" => Ok(SeriesBy::SiteSku),
            "location,sku" => Ok(SeriesBy::LocationSku),
            _ => Err(crate::error::HubError::Invalid(format!(
                "by {s:?} is not valid: use site,category, site,sku or location,sku"
            ))),
        }
    }

    /// The names of the keys a series is identified by.
    pub fn keys(self) -> [&'static str; 2] {
        match self {
            SeriesBy::SiteCategory => ["site", "category"],
            SeriesBy::SiteSku => ["site", "sku"],
            SeriesBy::LocationSku => ["location", "sku"],
        }
    }

    /// The SQL of the site and the two keys over `row` (with site,
    /// location and sku columns) and `p` (its product, left-joined).
    fn columns(self, row: &str) -> String {
        match self {
            SeriesBy::SiteCategory => format!("{row}.site, {row}.site, COALESCE(p.category, '')"),
            SeriesBy::SiteSku => format!("{row}.site, {row}.site, {row}.sku"),
            SeriesBy::LocationSku => {
                format!("{row}.site, {row}.site || '/' || {row}.location, {row}.sku")
            }
        }
    }
}

/// One demand series: its site and keys, and its net qty sold per business
/// day (micro-units), the days without sales absent, in day order.
#[derive(Debug, Clone, PartialEq)]
pub struct DemandSeries {
    pub site: String,
    pub keys: [String; 2],
    pub days: Vec<(NaiveDate, i64)>,
}

/// Net daily demand of every series with sales in `[from, to)`, and of every
/// series with stock now and no sales then (an empty history: it gets a
/// forecast of 0, marked as such), optionally of one site.
fn demand(
    sql: &mut Sql<'_>,
    by: SeriesBy,
    site: Option<&str>,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<DemandSeries>> {
    let cols = by.columns("r");
    let mut series: std::collections::BTreeMap<(String, String, String), Vec<(NaiveDate, i64)>> =
        std::collections::BTreeMap::new();
    let rows = sql.query(
        &format!(
            "SELECT {cols}, r.day, CAST(SUM(r.sold - r.returned) AS BIGINT)
             FROM sales_day r LEFT JOIN product p ON p.sku = r.sku
             WHERE r.day >= ?1 AND r.day < ?2 AND (CAST(?3 AS TEXT) IS NULL OR r.site = ?3)
             GROUP BY {cols}, r.day"
        ),
        vals![from.to_string(), to.to_string(), site],
    )?;
    for r in &rows {
        let day: String = r.get(3)?;
        let Ok(day) = NaiveDate::parse_from_str(&day, "%Y-%m-%d") else {
            continue;
        };
        series
            .entry((r.get(0)?, r.get(1)?, r.get(2)?))
            .or_default()
            .push((day, r.get(4)?));
    }
    let stocked = sql.query(
        &format!(
            "SELECT DISTINCT {b_cols}
             FROM balance b {shared}
             WHERE b.qty > 0 AND {IS_SHARED}
               AND (CAST(?1 AS TEXT) IS NULL OR b.site = ?1)",
            b_cols = by.columns("b"),
            shared = shared_joins()
        ),
        vals![site],
    )?;
    for r in &stocked {
        series.entry((r.get(0)?, r.get(1)?, r.get(2)?)).or_default();
    }
    Ok(series
        .into_iter()
        .map(|((site, k0, k1), mut days)| {
            days.sort_unstable();
            DemandSeries {
                site,
                keys: [k0, k1],
                days,
            }
        })
        .collect())
}

impl Store {
    /// Demand series of `by` with their sales in `[from, to)`, read in one
    /// snapshot. An unknown `site` is refused.
    pub fn demand(
        &self,
        by: SeriesBy,
        site: Option<&str>,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<DemandSeries>> {
        self.db().snapshot(|sql| {
            let named = site.map(str::to_owned);
            check_known(sql, &[("site", &named, "SELECT id FROM site")])?;
            demand(sql, by, site, from, to)
        })
    }
}
