//! What the plans read: holdings with their sales history, from the
//! balances and the sales flow (never the movements). The maths is in
//! `crate::plan`.

use super::Store;
use super::db::{Sql, vals};
use super::query::{SELECTED, SITE_POLICY, check_known};
use crate::error::Result;
use chrono::{Duration, NaiveDate};
use rustc_hash::FxHashMap;
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
/// site → location → sku → position in a list of lines, for looking rows
/// up by their borrowed text (FxHash: these lookups are most of a plan's
/// read).
type LineIndex = FxHashMap<String, FxHashMap<String, FxHashMap<String, usize>>>;

/// The [`LineIndex`] of lines given as (site, location, sku), in order.
fn line_index<'a>(lines: impl Iterator<Item = (&'a str, &'a str, &'a str)>) -> LineIndex {
    let mut index = LineIndex::default();
    for (i, (site, location, sku)) in lines.enumerate() {
        index
            .entry(site.to_owned())
            .or_default()
            .entry(location.to_owned())
            .or_default()
            .insert(sku.to_owned(), i);
    }
    index
}

fn holdings(
    sql: &mut Sql<'_>,
    site: Option<&str>,
    as_of: NaiveDate,
    days: u32,
) -> Result<Vec<HoldingHistory>> {
    let window_start = as_of - Duration::days(i64::from(days));
    let rows = sql.query(
        &format!(
            "SELECT b.site, m.kind, m.region, b.location, b.sku, COALESCE(p.category, ''), p.dealer_price,
                    CAST(SUM(b.qty) AS BIGINT), CAST(SUM(b.value) AS BIGINT), m.unvalued
             FROM balance b {shared}
             WHERE {IS_SHARED} AND (CAST(?1 AS TEXT) IS NULL OR b.site = ?1)
             GROUP BY b.site, m.kind, m.region, b.location, b.sku, p.category, p.dealer_price, m.unvalued
             HAVING SUM(b.qty) > 0
             ORDER BY b.site, b.location, b.sku",
            shared = shared_joins()
        ),
        vals![site],
    )?;
    let mut held = rows
        .iter()
        .map(|r| {
            Ok(HoldingHistory {
                site: r.get(0)?,
                kind: r.get(1)?,
                region: r.get(2)?,
                location: r.get(3)?,
                sku: r.get(4)?,
                category: r.get(5)?,
                dealer_price: r.get(6)?,
                qty: r.get(7)?,
                value: r.get(8)?,
                unvalued: r.get(9)?,
                last_sale: None,
                net_sold: 0,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let index = line_index(
        held.iter()
            .map(|h| (h.site.as_str(), h.location.as_str(), h.sku.as_str())),
    );
    // One pass over the daily rows before as-of (no GROUP BY sort): each
    // holding's last day with a sale, and its net sales in the window.
    sql.each(
        "SELECT site, location, sku, day, sold, returned FROM sales_day
         WHERE day < ?1 AND (CAST(?2 AS TEXT) IS NULL OR site = ?2)",
        vals![as_of.to_string(), site],
        |r| {
            let (site, loc, sku) = (
                r[0].text("site")?,
                r[1].text("location")?,
                r[2].text("sku")?,
            );
            let line = index
                .get(site)
                .and_then(|l| l.get(loc))
                .and_then(|l| l.get(sku));
            let (Some(&i), Some(day)) = (line, parse_day(r[3].text("day")?)) else {
                return Ok(());
            };
            let (sold, returned) = (r[4].int("sold")?, r[5].int("returned")?);
            let h = &mut held[i];
            if sold > 0 && h.last_sale.is_none_or(|d| d < day) {
                h.last_sale = Some(day);
            }
            if day >= window_start {
                h.net_sold += sold - returned;
            }
            Ok(())
        },
    )?;
    Ok(held)
}

impl Store {
    /// Holdings with stock (of one site, if given) and their sales in the
    /// `days` before `as_of`, read in one snapshot. An unknown `site` is
    /// refused.
    pub fn holdings_with_sales(
        &self,
        site: Option<&str>,
        as_of: NaiveDate,
        days: u32,
    ) -> Result<Vec<HoldingHistory>> {
        self.db().snapshot(|sql| {
            let named = site.map(str::to_owned);
            check_known(sql, &[("site", &named, "SELECT id FROM site")])?;
            holdings(sql, site, as_of, days)
        })
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
}

/// Which series a forecast read takes: of one site, one location of it
/// (series by location and SKU), one SKU or one category. The API's and
/// the CLI's words; [`SeriesOf::check`] refuses a filter its `by` lacks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeriesOf {
    pub site: Option<String>,
    /// A location of `site` (its own name, as `/v1/movements` takes it).
    pub location: Option<String>,
    pub sku: Option<String>,
    pub category: Option<String>,
}

impl SeriesOf {
    /// Of one site, or all.
    pub fn site(site: Option<&str>) -> SeriesOf {
        SeriesOf {
            site: site.map(str::to_owned),
            ..SeriesOf::default()
        }
    }

    /// `Ok` if every filter given is one of `by`'s keys.
    pub fn check(&self, by: SeriesBy) -> Result<()> {
        let refuse = |field: &str, value: &str| {
            Err(crate::error::HubError::Invalid(format!(
                "{field} {value:?} is not a filter of series by {}: use {}",
                by.keys().join(","),
                by.keys()[1]
            )))
        };
        match (by, &self.sku, &self.category) {
            (SeriesBy::SiteCategory, Some(s), _) => return refuse("sku", s),
            (SeriesBy::SiteSku | SeriesBy::LocationSku, _, Some(c)) => {
                return refuse("category", c);
            }
            _ => {}
        }
        match (&self.location, by, &self.site) {
            (Some(l), SeriesBy::LocationSku, None) => Err(crate::error::HubError::Invalid(
                format!("location {l:?} needs the site it is of: give site too"),
            )),
            (Some(l), SeriesBy::SiteCategory | SeriesBy::SiteSku, _) => {
                Err(crate::error::HubError::Invalid(format!(
                    "location {l:?} is not a filter of series by {}: use by location,sku",
                    by.keys().join(",")
                )))
            }
            _ => Ok(()),
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
    of: &SeriesOf,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<DemandSeries>> {
    let (site, location) = (of.site.as_deref(), of.location.as_deref());
    let (sku, category) = (of.sku.as_deref(), of.category.as_deref());
    let mut found = SeriesIndex::new(by);
    // One pass over the daily rows (no GROUP BY sort, no row materialised):
    // each row is looked up by its borrowed text and added to its series.
    sql.each(
        "SELECT r.site, r.location, r.sku, COALESCE(p.category, ''), r.day, r.sold - r.returned
         FROM sales_day r LEFT JOIN product p ON p.sku = r.sku
         WHERE r.day >= ?1 AND r.day < ?2 AND (CAST(?3 AS TEXT) IS NULL OR r.site = ?3)
           AND (CAST(?4 AS TEXT) IS NULL OR r.location = ?4)
           AND (CAST(?5 AS TEXT) IS NULL OR r.sku = ?5)
           AND (CAST(?6 AS TEXT) IS NULL OR COALESCE(p.category, '') = ?6)",
        vals![
            from.to_string(),
            to.to_string(),
            site,
            location,
            sku,
            category
        ],
        |r| {
            let Some(day) = parse_day(r[4].text("day")?) else {
                return Ok(());
            };
            let i = found.slot(
                r[0].text("site")?,
                r[1].text("location")?,
                r[2].text("sku")?,
                r[3].text("category")?,
            );
            let days = &mut found.series[i].days;
            let qty = r[5].int("qty")?;
            match days.last_mut() {
                Some((d, q)) if *d == day => *q += qty,
                _ => days.push((day, qty)),
            }
            Ok(())
        },
    )?;
    sql.each(
        &format!(
            "SELECT DISTINCT b.site, b.location, b.sku, COALESCE(p.category, '')
             FROM balance b {shared}
             WHERE b.qty > 0 AND {IS_SHARED}
               AND (CAST(?1 AS TEXT) IS NULL OR b.site = ?1)
               AND (CAST(?2 AS TEXT) IS NULL OR b.location = ?2)
               AND (CAST(?3 AS TEXT) IS NULL OR b.sku = ?3)
               AND (CAST(?4 AS TEXT) IS NULL OR COALESCE(p.category, '') = ?4)",
            shared = shared_joins()
        ),
        vals![site, location, sku, category],
        |r| {
            found.slot(
                r[0].text("site")?,
                r[1].text("location")?,
                r[2].text("sku")?,
                r[3].text("category")?,
            );
            Ok(())
        },
    )?;
    let mut series = found.series;
    for s in &mut series {
        // Rows come in key order, so each series' days already do; sorted
        // and summed again in case the engine visits them otherwise.
        s.days.sort_unstable();
        s.days.dedup_by(|later, first| {
            let same = later.0 == first.0;
            if same {
                first.1 += later.1;
            }
            same
        });
    }
    series.sort_unstable_by(|a, b| (&a.site, &a.keys).cmp(&(&b.site, &b.keys)));
    Ok(series)
}

/// The demand series found so far, looked up by a row's site and the text
/// of its keys (location or '', then SKU or category) without allocating.
struct SeriesIndex {
    by: SeriesBy,
    series: Vec<DemandSeries>,
    /// site → location or '' → SKU or category → position in `series`.
    index: LineIndex,
}

impl SeriesIndex {
    fn new(by: SeriesBy) -> SeriesIndex {
        SeriesIndex {
            by,
            series: Vec::new(),
            index: LineIndex::default(),
        }
    }

    /// The series of a row at `site`/`location` of `sku` in `category`.
    fn slot(&mut self, site: &str, location: &str, sku: &str, category: &str) -> usize {
        let (a, b) = match self.by {
            SeriesBy::SiteCategory => ("", category),
            SeriesBy::SiteSku => ("", sku),
            SeriesBy::LocationSku => (location, sku),
        };
        if let Some(&i) = self
            .index
            .get(site)
            .and_then(|m| m.get(a))
            .and_then(|m| m.get(b))
        {
            return i;
        }
        let i = self.series.len();
        let first = match self.by {
            SeriesBy::LocationSku => format!("{site}/{location}"),
            _ => site.to_owned(),
        };
        self.series.push(DemandSeries {
            site: site.to_owned(),
            keys: [first, b.to_owned()],
            days: Vec::new(),
        });
        self.index
            .entry(site.to_owned())
            .or_default()
            .entry(a.to_owned())
            .or_default()
            .insert(b.to_owned(), i);
        i
    }
}

impl Store {
    /// Demand series of `by` (those `of` names) with their sales in
    /// `[from, to)`, read in one snapshot. An unknown site or SKU, or a
    /// filter `by` lacks, is refused.
    pub fn demand(
        &self,
        by: SeriesBy,
        of: &SeriesOf,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<DemandSeries>> {
        of.check(by)?;
        self.db().snapshot(|sql| {
            check_known(sql, &[("site", &of.site, "SELECT id FROM site")])?;
            demand(sql, by, of, from, to)
        })
    }
}

/// One (site, location, sku) line a stock policy is set for: every line
/// with a balance (even at 0: a stock-out is what a policy is for) or goods
/// in transit to it, that HQ sees as it is now ([`shared_joins`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PolicyLine {
    pub site: String,
    pub kind: String,
    pub location: String,
    pub sku: String,
    /// The catalog's category ('' when none or not in the catalog).
    pub category: String,
    /// On hand, micro-units, summed over lots.
    pub on_hand: i64,
    /// At moving-average cost, micro-currency.
    pub value: i64,
    /// A dealer that does not share costs: `value` means nothing.
    pub unvalued: bool,
    /// Sent to it and not yet received, micro-units.
    pub in_transit: i64,
    /// The catalog's lead time, pack size, minimum order and prices.
    pub lead_time_days: Option<u32>,
    pub pack_size: Option<String>,
    pub min_order_qty: Option<String>,
    pub dealer_price: Option<String>,
    pub list_price: Option<String>,
    /// Net qty sold per business day before `as_of` (micro-units), the days
    /// without sales absent, in day order.
    pub days: Vec<(NaiveDate, i64)>,
}

/// What a stock policy is computed from.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PolicyInputs {
    pub lines: Vec<PolicyLine>,
    /// Per (site, sku): revenue less refunds in the 90 days before `as_of`
    /// (micro-currency), and the net qty sold then without a price (not
    /// recorded, or withheld by a dealer's policy).
    pub revenue: HashMap<(String, String), (i64, i64)>,
}

/// The columns of a [`PolicyLine`] over a source `b` with site, location,
/// sku, qty, value and in_transit columns, joined as [`shared_joins`].
fn policy_select(source: &str) -> String {
    format!(
        "SELECT b.site, m.kind, b.location, b.sku, COALESCE(p.category, ''),
                CAST(SUM(b.qty) AS BIGINT), CAST(SUM(b.value) AS BIGINT), m.unvalued,
                CAST(SUM(b.in_transit) AS BIGINT), p.lead_time_days, p.pack_size,
                p.min_order_qty, p.dealer_price, p.list_price
         FROM {source} b {shared}
         WHERE {IS_SHARED}
         GROUP BY b.site, m.kind, b.location, b.sku, p.category, m.unvalued, p.lead_time_days,
                  p.pack_size, p.min_order_qty, p.dealer_price, p.list_price",
        shared = shared_joins()
    )
}

/// Open transfers to each (site, location, sku), counted where they go.
const OPEN_TRANSFERS: &str = "(SELECT t.to_site AS site, t.to_location AS location, t.sku,
        0 AS qty, 0 AS value, t.qty - t.received_qty - t.returned_qty AS in_transit
     FROM transfer t JOIN site d ON d.id = t.to_site
     WHERE t.qty > t.received_qty + t.returned_qty
       AND (CAST(?1 AS TEXT) IS NULL OR t.to_site = ?1)
       AND (CAST(?2 AS TEXT) IS NULL OR t.to_location = ?2))";

fn policy_inputs(
    sql: &mut Sql<'_>,
    site: Option<&str>,
    location: Option<&str>,
    from: NaiveDate,
    as_of: NaiveDate,
) -> Result<PolicyInputs> {
    let balances = format!(
        "(SELECT b.site, b.location, b.sku, b.qty, b.value, 0 AS in_transit
          FROM balance b
          WHERE (CAST(?1 AS TEXT) IS NULL OR b.site = ?1)
            AND (CAST(?2 AS TEXT) IS NULL OR b.location = ?2)
          UNION ALL SELECT * FROM {OPEN_TRANSFERS} o)"
    );
    let mut lines: Vec<PolicyLine> = sql
        .query(&policy_select(&balances), vals![site, location])?
        .iter()
        .map(|r| {
            Ok(PolicyLine {
                site: r.get(0)?,
                kind: r.get(1)?,
                location: r.get(2)?,
                sku: r.get(3)?,
                category: r.get(4)?,
                on_hand: r.get(5)?,
                value: r.get(6)?,
                unvalued: r.get(7)?,
                in_transit: r.get(8)?,
                lead_time_days: r.get::<Option<i64>>(9)?.and_then(|d| u32::try_from(d).ok()),
                pack_size: r.get(10)?,
                min_order_qty: r.get(11)?,
                dealer_price: r.get(12)?,
                list_price: r.get(13)?,
                days: Vec::new(),
            })
        })
        .collect::<Result<_>>()?;
    lines.sort_by(|a, b| (&a.site, &a.location, &a.sku).cmp(&(&b.site, &b.location, &b.sku)));
    let index = line_index(
        lines
            .iter()
            .map(|l| (l.site.as_str(), l.location.as_str(), l.sku.as_str())),
    );
    let sites: Vec<String> = match site {
        Some(s) => vec![s.to_owned()],
        None => sql.column("SELECT id FROM site ORDER BY id", vals![])?,
    };
    let abc_from = as_of - Duration::days(90);
    // Revenue in the ABC window per line, and per (site, sku) for the rows
    // of no line asked for (another location, when one is asked).
    let mut line_revenue: Vec<(i64, i64)> = vec![(0, 0); lines.len()];
    let mut revenue: HashMap<(String, String), (i64, i64)> = HashMap::new();
    // One pass over each site's days in key order (no sort, no GROUP BY):
    // the daily series of the lines asked for, and the revenue of every SKU
    // of the site (ABC ranks the whole site, whatever location is asked).
    // This thread steps SQLite and copies the cells out; a second one
    // matches the rows to their lines and sums, batches of rows between.
    for s in &sites {
        let lines_of = index.get(s);
        let (lines, line_revenue) = (&mut lines, &mut line_revenue);
        let other = std::thread::scope(|scope| -> Result<FxHashMap<String, (i64, i64)>> {
            let (tx, rx) = std::sync::mpsc::sync_channel::<ScanRows>(4);
            let matcher = scope.spawn(move || {
                let mut m = Matcher {
                    lines_of,
                    lines,
                    line_revenue,
                    other: FxHashMap::default(),
                    abc_from,
                };
                for batch in rx {
                    m.add(&batch);
                }
                m.other
            });
            let mut batch = ScanRows::default();
            let scanned = sql.each(
                "SELECT location, sku, day, sold, returned, revenue, refunds, unpriced_sold - unpriced_returned
                 FROM sales_day WHERE site = ?1 AND day >= ?2 AND day < ?3",
                vals![s, from.to_string(), as_of.to_string()],
                |r| {
                    let Some(day) = parse_day(r[2].text("day")?) else {
                        return Ok(());
                    };
                    batch.push(
                        r[0].text("location")?,
                        r[1].text("sku")?,
                        ScanRow {
                            day,
                            qty: r[3].int("sold")? - r[4].int("returned")?,
                            revenue: r[5].int("revenue")? - r[6].int("refunds")?,
                            unpriced: r[7].int("unpriced")?,
                            ..ScanRow::default()
                        },
                    );
                    if batch.rows.len() >= SCAN_BATCH {
                        // The matcher only stops early by panicking, which
                        // the join below reports.
                        let _ = tx.send(std::mem::take(&mut batch));
                    }
                    Ok(())
                },
            );
            if !batch.rows.is_empty() {
                let _ = tx.send(batch);
            }
            drop(tx);
            let other = matcher.join().map_err(|_| {
                crate::error::HubError::Internal("the policy read's matcher thread panicked".into())
            })?;
            scanned?;
            Ok(other)
        })?;
        for (sku, v) in other {
            revenue.insert((s.clone(), sku), v);
        }
    }
    for (l, add) in lines.iter().zip(&line_revenue) {
        let e = revenue.entry((l.site.clone(), l.sku.clone())).or_default();
        e.0 += add.0;
        e.1 += add.1;
    }
    for l in &mut lines {
        l.days.sort_unstable();
    }
    Ok(PolicyInputs { lines, revenue })
}

/// Rows of `sales_day` handed from the scan to the matcher at a time.
const SCAN_BATCH: usize = 4096;

/// One `sales_day` row as the policy read needs it: its location and SKU
/// as ranges of [`ScanRows::text`], its day and its sums.
#[derive(Default)]
struct ScanRow {
    location: (u32, u32),
    sku: (u32, u32),
    day: NaiveDate,
    /// Sold − returned.
    qty: i64,
    /// Revenue − refunds.
    revenue: i64,
    /// Unpriced sold − unpriced returned.
    unpriced: i64,
}

/// A batch of scanned rows, their text in one buffer.
#[derive(Default)]
struct ScanRows {
    text: String,
    rows: Vec<ScanRow>,
}

impl ScanRows {
    fn push(&mut self, location: &str, sku: &str, mut row: ScanRow) {
        let mut put = |t: &str| {
            let at = self.text.len() as u32;
            self.text.push_str(t);
            (at, self.text.len() as u32)
        };
        row.location = put(location);
        row.sku = put(sku);
        self.rows.push(row);
    }

    fn str(&self, (from, to): (u32, u32)) -> &str {
        &self.text[from as usize..to as usize]
    }
}

/// Adds scanned rows to the lines they belong to, and the revenue of the
/// rows of no line asked for to `other`, per SKU.
struct Matcher<'a> {
    lines_of: Option<&'a FxHashMap<String, FxHashMap<String, usize>>>,
    lines: &'a mut [PolicyLine],
    line_revenue: &'a mut [(i64, i64)],
    other: FxHashMap<String, (i64, i64)>,
    abc_from: NaiveDate,
}

impl Matcher<'_> {
    fn add(&mut self, batch: &ScanRows) {
        // A site's rows mostly share their location: its SKUs are looked
        // up once per run of it.
        let mut current: Option<(&str, Option<&FxHashMap<String, usize>>)> = None;
        for r in &batch.rows {
            let loc = batch.str(r.location);
            let skus = match current {
                Some((l, skus)) if l == loc => skus,
                _ => {
                    let skus = self.lines_of.and_then(|l| l.get(loc));
                    current = Some((loc, skus));
                    skus
                }
            };
            let sku = batch.str(r.sku);
            let line = skus.and_then(|l| l.get(sku)).copied();
            if let Some(i) = line {
                self.lines[i].days.push((r.day, r.qty));
            }
            if r.day >= self.abc_from {
                let sum = match line {
                    Some(i) => &mut self.line_revenue[i],
                    None => self.other.entry(sku.to_owned()).or_default(),
                };
                sum.0 += r.revenue;
                sum.1 += r.unpriced;
            }
        }
    }
}

/// A `YYYY-MM-DD` business day, read without allocating.
fn parse_day(text: &str) -> Option<NaiveDate> {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return NaiveDate::parse_from_str(text, "%Y-%m-%d").ok();
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |n, c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)
}

/// A stock policy as stored in `policy_line`, with the line's stock now.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPolicy {
    pub site: String,
    pub location: String,
    pub sku: String,
    /// The values stored, by column name (`daily_demand`, `reorder_point`, …).
    pub as_of: String,
    pub daily_demand: String,
    pub reorder_point: String,
    /// On hand and in transit now, micro-units.
    pub on_hand: i64,
    pub in_transit: i64,
}

/// The columns of `policy_line`, in order.
pub const POLICY_COLUMNS: &[&str] = &[
    "site",
    "location",
    "sku",
    "as_of",
    "abc",
    "xyz",
    "method",
    "no_history",
    "daily_demand",
    "demand_sd",
    "lead_time_days",
    "review_days",
    "service_level",
    "safety_stock",
    "reorder_point",
    "order_up_to",
    "eoq",
    "computed_at",
];

impl Store {
    /// The lines a stock policy is set for (of one site, or one location id
    /// — of that site, or of every site that has one), with their sales in
    /// `[from, as_of)` and each site's SKUs' revenue in the 90 days before
    /// `as_of`, read in one snapshot. An unknown site or location is refused.
    pub fn policy_inputs(
        &self,
        site: Option<&str>,
        location: Option<&str>,
        from: NaiveDate,
        as_of: NaiveDate,
    ) -> Result<PolicyInputs> {
        self.db().snapshot(|sql| {
            let named = site.map(str::to_owned);
            check_known(sql, &[("site", &named, "SELECT id FROM site")])?;
            let locations = match site {
                Some(_) => {
                    "SELECT DISTINCT location FROM balance WHERE site = ?1
                            UNION SELECT id FROM site_location WHERE site = ?1"
                }
                None => "SELECT DISTINCT location FROM balance UNION SELECT id FROM site_location",
            };
            if let Some(l) = location {
                let known: Vec<String> = sql.column(locations, vals![site])?;
                if !known.iter().any(|k| k == l) {
                    return Err(crate::error::HubError::UnknownName(format!(
                        "location {l:?} is not known to the hub{}",
                        site.map(|s| format!(" at site {s}")).unwrap_or_default()
                    )));
                }
            }
            policy_inputs(sql, site, location, from, as_of)
        })
    }

    /// Replaces the stored policy of every line of `site` (of every site
    /// when none) with `rows` (values per [`POLICY_COLUMNS`]), in one
    /// transaction.
    pub fn save_policy(
        &mut self,
        site: Option<&str>,
        rows: &[Vec<super::db::Value>],
    ) -> Result<()> {
        self.db().write(|sql| {
            sql.exec(
                "DELETE FROM policy_line WHERE CAST(?1 AS TEXT) IS NULL OR site = ?1",
                vals![site],
            )?;
            sql.insert_rows("policy_line", POLICY_COLUMNS, rows)
        })
    }

    /// Every site's id, in order.
    pub fn site_ids(&self) -> Result<Vec<String>> {
        self.db()
            .snapshot(|sql| sql.column("SELECT id FROM site ORDER BY id", vals![]))
    }

    /// The latest day a stored policy was computed for, if any.
    pub fn policy_as_of(&self) -> Result<Option<String>> {
        self.db()
            .snapshot(|sql| sql.scalar("SELECT MAX(as_of) FROM policy_line", vals![]))
            .map(Option::flatten)
    }

    /// The stored policy of each of `lines` (site, location, sku) that has
    /// one, with its stock now: on hand (over lots) and open transfers to
    /// it. Reads by key only, so it is cheap enough for every ingest.
    pub fn stored_policy(&self, lines: &[(String, String, String)]) -> Result<Vec<StoredPolicy>> {
        self.db().snapshot(|sql| {
            let mut transit: HashMap<String, HashMap<(String, String), i64>> = HashMap::new();
            let mut out = Vec::new();
            for (site, location, sku) in lines {
                let Some(p) = sql.query_opt(
                    "SELECT as_of, daily_demand, reorder_point FROM policy_line
                     WHERE site = ?1 AND location = ?2 AND sku = ?3",
                    vals![site, location, sku],
                )?
                else {
                    continue;
                };
                let on_hand: Option<i64> = sql.scalar(
                    "SELECT CAST(SUM(qty) AS BIGINT) FROM balance
                     WHERE site = ?1 AND location = ?2 AND sku = ?3",
                    vals![site, location, sku],
                )?;
                if !transit.contains_key(site) {
                    let mut open = HashMap::new();
                    for r in sql.query(
                        "SELECT to_location, sku, CAST(SUM(qty - received_qty - returned_qty) AS BIGINT)
                         FROM transfer WHERE to_site = ?1 AND qty > received_qty + returned_qty
                         GROUP BY to_location, sku",
                        vals![site],
                    )? {
                        open.insert((r.get(0)?, r.get(1)?), r.get(2)?);
                    }
                    transit.insert(site.clone(), open);
                }
                let in_transit = transit[site]
                    .get(&(location.clone(), sku.clone()))
                    .copied()
                    .unwrap_or(0);
                out.push(StoredPolicy {
                    site: site.clone(),
                    location: location.clone(),
                    sku: sku.clone(),
                    as_of: p.get(0)?,
                    daily_demand: p.get(1)?,
                    reorder_point: p.get(2)?,
                    on_hand: on_hand.unwrap_or(0),
                    in_transit,
                });
            }
            Ok(out)
        })
    }
}

/// One HQ location's on-hand of one SKU: (site, location, sku, micro-units).
pub type HqHolding = (String, String, String, i64);

impl Store {
    /// HQ's sites, and what each of their locations holds of each SKU
    /// (micro-units, summed over lots; only what is on hand).
    pub fn hq_stock(&self) -> Result<(Vec<String>, Vec<HqHolding>)> {
        self.db().snapshot(|sql| {
            let sites: Vec<String> =
                sql.column("SELECT id FROM site WHERE kind = 'hq' ORDER BY id", vals![])?;
            let held = sql
                .query(
                    "SELECT b.site, b.location, b.sku, CAST(SUM(b.qty) AS BIGINT)
                     FROM balance b JOIN site s ON s.id = b.site AND s.kind = 'hq'
                     GROUP BY b.site, b.location, b.sku HAVING SUM(b.qty) > 0",
                    vals![],
                )?
                .iter()
                .map(|r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .collect::<Result<_>>()?;
            Ok((sites, held))
        })
    }
}

/// What a planner decided on a reorder suggestion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Ordered (a transfer or a purchase placed outside jxc, or to be).
    Ordered,
    /// Not to be ordered this time.
    Dismissed,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Ordered => "ordered",
            Decision::Dismissed => "dismissed",
        }
    }

    pub fn parse(s: &str) -> Result<Decision> {
        match s {
            "ordered" => Ok(Decision::Ordered),
            "dismissed" => Ok(Decision::Dismissed),
            _ => Err(crate::error::HubError::Invalid(format!(
                "decision {s:?} is not valid: use ordered or dismissed"
            ))),
        }
    }
}

/// A planner's decision on one line's reorder suggestion of one plan day.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanDecision {
    pub site: String,
    /// The location's id at its site.
    pub location: String,
    pub sku: String,
    /// The plan day the suggestion was computed as of.
    pub as_of: NaiveDate,
    pub decision: Decision,
    /// The qty ordered (for `ordered`).
    pub qty: Option<rust_decimal::Decimal>,
    pub note: String,
    pub decided_by: String,
    /// RFC 3339 UTC.
    pub decided_at: String,
}

impl Store {
    /// Records `d`, replacing an earlier decision on the same line and day.
    /// An unknown site is refused (404).
    pub fn decide(&mut self, d: &PlanDecision) -> Result<()> {
        self.db().write(|sql| {
            let named = Some(d.site.clone());
            check_known(sql, &[("site", &named, "SELECT id FROM site")])?;
            sql.exec(
                "INSERT INTO plan_decision (site, location, sku, as_of, decision, qty, note, decided_by, decided_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (site, location, sku, as_of) DO UPDATE SET
                    decision = excluded.decision, qty = excluded.qty, note = excluded.note,
                    decided_by = excluded.decided_by, decided_at = excluded.decided_at",
                vals![
                    d.site.as_str(),
                    d.location.as_str(),
                    d.sku.as_str(),
                    d.as_of.to_string(),
                    d.decision.as_str(),
                    d.qty.map(|q| q.to_string()),
                    d.note.as_str(),
                    d.decided_by.as_str(),
                    d.decided_at.as_str()
                ],
            )?;
            Ok(())
        })
    }

    /// The decisions on the suggestions of plan day `as_of` (of one site,
    /// if given).
    pub fn decisions(&self, site: Option<&str>, as_of: NaiveDate) -> Result<Vec<PlanDecision>> {
        let rows = self.db().read(|sql| {
            sql.query(
                "SELECT site, location, sku, decision, qty, note, decided_by, decided_at
                 FROM plan_decision WHERE as_of = ?1 AND (CAST(?2 AS TEXT) IS NULL OR site = ?2)
                 ORDER BY site, location, sku",
                vals![as_of.to_string(), site],
            )
        })?;
        rows.iter()
            .map(|r| {
                let qty: Option<String> = r.get(4)?;
                Ok(PlanDecision {
                    site: r.get(0)?,
                    location: r.get(1)?,
                    sku: r.get(2)?,
                    as_of,
                    decision: Decision::parse(&r.get::<String>(3)?)?,
                    qty: qty.and_then(|q| q.parse().ok()),
                    note: r.get(5)?,
                    decided_by: r.get(6)?,
                    decided_at: r.get(7)?,
                })
            })
            .collect()
    }
}
