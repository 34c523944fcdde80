//! The sales flow 销售流向: what sold where, at what margin, and what the
//! channel took in. Ingest adds each batch's sales, customer returns and
//! transfer receipts to daily sums in the same transaction as its balances
//! (`sales_day` per location × SKU × business day × customer, and
//! `sales_site_day` per site × day), so no report scans movements.
//!
//! Money here is in micro-currency (× 10⁶) and quantities in micro-units:
//! integers that both engines add exactly.

use super::Store;
use super::db::{Sql, Value, vals};
use super::query::{check_kind, check_known};
use crate::error::{HubError, Result};
use chrono::{Datelike, Duration, NaiveDate};
use jxc_shared::suggest::did_you_mean;
use jxc_shared::{Money, MovementKind, Quantity};
use rust_decimal::Decimal;
use rustc_hash::FxHashMap;
use std::collections::HashMap;

/// The sums one aggregate row holds, in micro-units and micro-currency.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flow {
    /// Qty sold (positive).
    pub sold: i64,
    /// Qty customers returned (positive).
    pub returned: i64,
    /// Σ qty × price of the sales that carry a price.
    pub revenue: i64,
    /// Σ qty × price of the returns that carry a price.
    pub refunds: i64,
    /// Σ qty × moving-average cost of the priced sales.
    pub cogs: i64,
    /// Σ qty × cost taken back into stock by the priced returns.
    pub return_cogs: i64,
    /// Qty sold without a price: not recorded, or withheld by a dealer's
    /// policy. In no money column.
    pub unpriced_sold: i64,
    pub unpriced_returned: i64,
    /// Qty received from other sites' transfers (only in `sales_site_day`).
    pub sell_in: i64,
}

const SUMS: [&str; 8] = [
    "sold",
    "returned",
    "revenue",
    "refunds",
    "cogs",
    "return_cogs",
    "unpriced_sold",
    "unpriced_returned",
];

impl Flow {
    fn add(&mut self, o: &Flow) {
        self.sold = self.sold.saturating_add(o.sold);
        self.returned = self.returned.saturating_add(o.returned);
        self.revenue = self.revenue.saturating_add(o.revenue);
        self.refunds = self.refunds.saturating_add(o.refunds);
        self.cogs = self.cogs.saturating_add(o.cogs);
        self.return_cogs = self.return_cogs.saturating_add(o.return_cogs);
        self.unpriced_sold = self.unpriced_sold.saturating_add(o.unpriced_sold);
        self.unpriced_returned = self.unpriced_returned.saturating_add(o.unpriced_returned);
        self.sell_in = self.sell_in.saturating_add(o.sell_in);
    }

    fn sums(&self) -> [i64; 8] {
        [
            self.sold,
            self.returned,
            self.revenue,
            self.refunds,
            self.cogs,
            self.return_cogs,
            self.unpriced_sold,
            self.unpriced_returned,
        ]
    }

    fn from_sums(r: &super::db::Row, at: usize) -> Result<Flow> {
        Ok(Flow {
            sold: r.get(at)?,
            returned: r.get(at + 1)?,
            revenue: r.get(at + 2)?,
            refunds: r.get(at + 3)?,
            cogs: r.get(at + 4)?,
            return_cogs: r.get(at + 5)?,
            unpriced_sold: r.get(at + 6)?,
            unpriced_returned: r.get(at + 7)?,
            sell_in: 0,
        })
    }
}

/// qty × unit in micro-currency (qty in micro-units), rounded as every
/// money total is ([`Money::total`]); `None` when it does not fit.
pub(super) fn total_micro(qty_micro: i64, unit: Money) -> Option<i64> {
    let v = Money::total(Quantity::from_micro(qty_micro), unit)
        .checked_mul(Decimal::from(1_000_000))?;
    i64::try_from(v.trunc()).ok()
}

/// qty × price of a sale or return in micro-currency, whatever the qty's
/// sign (a sale's is negative).
pub(super) fn revenue_micro(qty_micro: i64, price: Money) -> Option<i64> {
    total_micro(i64::try_from(qty_micro.unsigned_abs()).ok()?, price)
}

/// What one applied movement adds to the sales flow. Pure.
/// - a sale or customer return: its qty (`qty_micro` is negative for a
///   sale), and with a price its revenue (`revenue`, from [`revenue_micro`])
///   and cost (`value_micro`, qty × the cost it left or came back at);
/// - a transfer-in that receives another site's transfer: sell-in.
pub(super) fn flow_of(
    kind: MovementKind,
    qty_micro: i64,
    value_micro: i64,
    revenue: Option<i64>,
    receipt_from_another_site: bool,
) -> Option<Flow> {
    let mut f = Flow::default();
    match (kind, revenue) {
        (MovementKind::Sale, Some(r)) => {
            f.sold = -qty_micro;
            f.revenue = r;
            f.cogs = -value_micro;
        }
        (MovementKind::Sale, None) => {
            f.sold = -qty_micro;
            f.unpriced_sold = -qty_micro;
        }
        (MovementKind::CustomerReturn, Some(r)) => {
            f.returned = qty_micro;
            f.refunds = r;
            f.return_cogs = value_micro;
        }
        (MovementKind::CustomerReturn, None) => {
            f.returned = qty_micro;
            f.unpriced_returned = qty_micro;
        }
        (MovementKind::TransferIn, _) if receipt_from_another_site => f.sell_in = qty_micro,
        _ => return None,
    }
    Some(f)
}

/// The Monday of `day`'s ISO week.
pub(super) fn week_of(day: NaiveDate) -> NaiveDate {
    day - Duration::days(i64::from(day.weekday().num_days_from_monday()))
}

/// One sale or customer return as the per-line aggregate takes it.
pub(super) struct SaleLine<'a> {
    pub location: &'a str,
    pub sku: &'a str,
    pub day: NaiveDate,
    /// The counterparty as shared, '' when none.
    pub customer: &'a str,
    pub flow: Flow,
}

/// `sales_day` rows summing `lines` per (location, sku, day, customer),
/// in key order (site, day, location, sku, customer): each statement then
/// touches neighbouring pages of the table. Pure; the keys are borrowed
/// until the rows are built.
pub(super) fn line_rows<'a>(
    site: &str,
    lines: impl IntoIterator<Item = SaleLine<'a>>,
) -> Vec<Vec<Value>> {
    let mut sums: FxHashMap<(NaiveDate, &str, &str, &str), Flow> = FxHashMap::default();
    for l in lines {
        sums.entry((l.day, l.location, l.sku, l.customer))
            .or_default()
            .add(&l.flow);
    }
    let mut sums: Vec<_> = sums.into_iter().collect();
    sums.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    sums.into_iter()
        .map(|((day, location, sku, customer), f)| {
            let mut row = Vec::with_capacity(6 + SUMS.len());
            row.extend([
                Value::Text(site.to_owned()),
                Value::Text(location.to_owned()),
                Value::Text(sku.to_owned()),
                Value::Text(day_text(day)),
                Value::Text(customer.to_owned()),
                Value::Text(day_text(week_of(day))),
            ]);
            row.extend(f.sums().into_iter().map(Value::Int));
            row
        })
        .collect()
}

fn day_text(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// A batch's additions to the two aggregates.
#[derive(Default)]
pub(super) struct FlowEffects {
    /// `sales_day` rows from [`line_rows`]: sales and returns per (location,
    /// sku, business day, customer).
    pub lines: Vec<Vec<Value>>,
    /// Per business day: the same, and sell-in.
    days: HashMap<NaiveDate, Flow>,
}

impl FlowEffects {
    /// Adds one applied movement's flow to its business day.
    pub(super) fn record_day(&mut self, day: NaiveDate, flow: Flow) {
        self.days.entry(day).or_default().add(&flow);
    }

    fn is_empty(&self) -> bool {
        self.days.is_empty()
    }
}

/// Adds a batch's flow to the aggregates.
pub(super) fn write_flow(sql: &mut Sql<'_>, site: &str, fx: FlowEffects) -> Result<()> {
    if fx.is_empty() {
        return Ok(());
    }
    let mut columns = vec!["site", "location", "sku", "day", "customer", "week"];
    columns.extend(SUMS);
    sql.accumulate_rows(
        "sales_day",
        &columns,
        &["site", "day", "location", "sku", "customer"],
        &SUMS,
        &fx.lines,
    )?;

    let rows: Vec<Vec<Value>> = fx
        .days
        .into_iter()
        .map(|(day, f)| {
            let mut row = vec![
                Value::Text(site.to_owned()),
                Value::Text(day_text(day)),
                Value::Text(day_text(week_of(day))),
            ];
            row.extend(f.sums().into_iter().map(Value::Int));
            row.push(Value::Int(f.sell_in));
            row
        })
        .collect();
    let mut columns = vec!["site", "day", "week"];
    columns.extend(SUMS);
    columns.push("sell_in");
    let mut sums = SUMS.to_vec();
    sums.push("sell_in");
    sql.accumulate_rows("sales_site_day", &columns, &["site", "day"], &sums, &rows)
}

/// Movements read per step of the backfill.
const BACKFILL_CHUNK: i64 = 20_000;

/// Sums the movements a hub held before it kept the sales flow, once, in
/// one transaction (under an advisory lock, so two processes starting
/// together do it once). Runs each time the store opens until it has.
pub(super) fn backfill(store: &Store) -> Result<()> {
    let done: Option<i64> = store.db().read(|sql| {
        sql.scalar(
            "SELECT value FROM counter WHERE name = 'sales_flow_backfilled'",
            vals![],
        )
    })?;
    if done != Some(0) {
        return Ok(());
    }
    store.db().write(|sql| {
        sql.lock("sales_flow_backfill")?;
        let done: Option<i64> = sql.scalar(
            "SELECT value FROM counter WHERE name = 'sales_flow_backfilled'",
            vals![],
        )?;
        if done != Some(0) {
            return Ok(());
        }
        let mut after = (String::new(), 0i64);
        loop {
            let rows = sql.query(
                "SELECT m.site, m.seq, m.kind, m.location, m.sku, m.qty, m.unit_cost, m.unit_price,
                        m.counterparty, m.occurred_at,
                        CASE WHEN t.id IS NOT NULL THEN 1 ELSE 0 END
                 FROM movement m
                 LEFT JOIN transfer t ON m.kind = 'transfer_in' AND t.id = m.transfer_id
                      AND t.to_site = m.site AND t.to_location = m.location AND t.from_site <> m.site
                 WHERE (m.site, m.seq) > (?1, ?2)
                   AND m.kind IN ('sale', 'customer_return', 'transfer_in')
                 ORDER BY m.site, m.seq LIMIT ?3",
                vals![after.0, after.1, BACKFILL_CHUNK],
            )?;
            let Some(last) = rows.last() else { break };
            after = (last.get(0)?, last.get(1)?);
            // Per site: its days, and its sales and returns as owned lines.
            type Owned = (String, String, NaiveDate, String, Flow);
            let mut by_site: HashMap<String, (FlowEffects, Vec<Owned>)> = HashMap::new();
            for r in &rows {
                let kind: String = r.get(2)?;
                let Ok(kind) = MovementKind::parse(&kind) else {
                    continue;
                };
                let qty: i64 = r.get(5)?;
                let unit_cost: String = r.get(6)?;
                let price: Option<String> = r.get(7)?;
                let occurred: String = r.get(9)?;
                let value = Money::from_stored(&unit_cost)
                    .and_then(|c| total_micro(qty, c))
                    .unwrap_or(0);
                let revenue = price
                    .as_deref()
                    .and_then(Money::from_stored)
                    .and_then(|p| revenue_micro(qty, p));
                let receipt: bool = r.get(10)?;
                let Some(flow) = flow_of(kind, qty, value, revenue, receipt) else {
                    continue;
                };
                // The stored time keeps the site's own offset: its first ten
                // characters are the business day.
                let Some(day) = occurred
                    .get(..10)
                    .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
                else {
                    continue;
                };
                let location: String = r.get(3)?;
                let sku: String = r.get(4)?;
                let customer: Option<String> = r.get(8)?;
                let (fx, lines) = by_site.entry(r.get(0)?).or_default();
                fx.record_day(day, flow);
                if flow.sell_in == 0 {
                    lines.push((location, sku, day, customer.unwrap_or_default(), flow));
                }
            }
            for (site, (mut fx, lines)) in by_site {
                fx.lines = line_rows(
                    &site,
                    lines.iter().map(|(location, sku, day, customer, flow)| SaleLine {
                        location,
                        sku,
                        day: *day,
                        customer,
                        flow: *flow,
                    }),
                );
                write_flow(sql, &site, fx)?;
            }
        }
        sql.exec(
            "UPDATE counter SET value = 1 WHERE name = 'sales_flow_backfilled'",
            vals![],
        )?;
        Ok(())
    })
}

/// What the sales flow is grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SalesKey {
    Site,
    Location,
    Region,
    Kind,
    Category,
    Brand,
    Sku,
    Customer,
    Day,
    Week,
    Month,
}

impl SalesKey {
    pub const ALL: [SalesKey; 11] = [
        SalesKey::Site,
        SalesKey::Location,
        SalesKey::Region,
        SalesKey::Kind,
        SalesKey::Category,
        SalesKey::Brand,
        SalesKey::Sku,
        SalesKey::Customer,
        SalesKey::Day,
        SalesKey::Week,
        SalesKey::Month,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SalesKey::Site => "site",
            SalesKey::Location => "location",
            SalesKey::Region => "region",
            SalesKey::Kind => "kind",
            SalesKey::Category => "category",
            SalesKey::Brand => "brand",
            SalesKey::Sku => "sku",
            SalesKey::Customer => "customer",
            SalesKey::Day => "day",
            SalesKey::Week => "week",
            SalesKey::Month => "month",
        }
    }

    /// `site,month`: one or more distinct keys.
    pub fn parse_list(s: &str) -> Result<Vec<SalesKey>> {
        let mut keys = Vec::new();
        for part in s.split(',').map(str::trim) {
            let Some(k) = SalesKey::ALL.into_iter().find(|k| k.as_str() == part) else {
                let names: Vec<&str> = SalesKey::ALL.iter().map(|k| k.as_str()).collect();
                return Err(HubError::Invalid(format!(
                    "by {part:?} is not valid: use one or more of {}{}",
                    names.join(", "),
                    did_you_mean(part, names.iter().copied())
                )));
            };
            if keys.contains(&k) {
                return Err(HubError::Invalid(format!("by {s:?} names {part} twice")));
            }
            keys.push(k);
        }
        Ok(keys)
    }

    /// Whether `sales_site_day` holds this key.
    fn per_site_day(self) -> bool {
        matches!(
            self,
            SalesKey::Site
                | SalesKey::Region
                | SalesKey::Kind
                | SalesKey::Day
                | SalesKey::Week
                | SalesKey::Month
        )
    }

    /// Its SQL over `r` (an aggregate row), `s` (its site) and `p` (its
    /// product, left-joined).
    fn column(self) -> &'static str {
        match self {
            SalesKey::Site => "r.site",
            SalesKey::Location => "r.site || '/' || r.location",
            SalesKey::Region => "s.region",
            SalesKey::Kind => "s.kind",
            SalesKey::Category => "COALESCE(p.category, '')",
            SalesKey::Brand => "COALESCE(p.brand, '')",
            SalesKey::Sku => "r.sku",
            SalesKey::Customer => "r.customer",
            SalesKey::Day => "r.day",
            SalesKey::Week => "r.week",
            SalesKey::Month => "substr(r.day, 1, 7)",
        }
    }
}

/// Which sales, grouped how. Dates are business days; `to` is exclusive.
#[derive(Debug, Clone, Default)]
pub struct SalesFilter {
    pub by: Vec<SalesKey>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub site: Option<String>,
    pub region: Option<String>,
    pub kind: Option<String>,
    pub category: Option<String>,
    pub sku: Option<String>,
}

impl SalesFilter {
    /// From the words of the command line and of the query string; `by`
    /// defaults to `site`.
    #[allow(clippy::too_many_arguments)]
    pub fn parse(
        by: Option<&str>,
        from: Option<&str>,
        to: Option<&str>,
        site: Option<String>,
        region: Option<String>,
        kind: Option<String>,
        category: Option<String>,
        sku: Option<String>,
    ) -> Result<SalesFilter> {
        let date = |field: &'static str, v: Option<&str>| {
            v.map(|v| jxc_shared::time::parse_date(field, v))
                .transpose()
                .map_err(HubError::from)
        };
        Ok(SalesFilter {
            by: SalesKey::parse_list(by.unwrap_or("site"))?,
            from: date("from", from)?,
            to: date("to", to)?,
            site,
            region,
            kind,
            category,
            sku,
        })
    }
}

/// One group of the sales flow.
#[derive(Debug, Clone, PartialEq)]
pub struct SalesRow {
    /// The group's value of each key, in the order asked. A week is its
    /// ISO label (`2026-W49`), a location `SITE/LOC`.
    pub keys: Vec<String>,
    pub flow: Flow,
}

fn micro(v: i64) -> Decimal {
    Decimal::new(v, 6).normalize()
}

impl SalesRow {
    pub fn qty(&self) -> Quantity {
        Quantity::from_micro(self.flow.sold)
    }
    pub fn returns(&self) -> Quantity {
        Quantity::from_micro(self.flow.returned)
    }
    pub fn net_qty(&self) -> Quantity {
        Quantity::from_micro(self.flow.sold - self.flow.returned)
    }
    /// Net qty sold without a price (not recorded, or not shared): in no
    /// money figure.
    pub fn unpriced_qty(&self) -> Quantity {
        Quantity::from_micro(self.flow.unpriced_sold - self.flow.unpriced_returned)
    }
    /// Whether any of the group's qty carries a price.
    fn priced(&self) -> bool {
        self.flow.sold != self.flow.unpriced_sold
            || self.flow.returned != self.flow.unpriced_returned
    }
    /// Net revenue of the priced part; `None` when nothing of it is priced
    /// (a dealer that does not share prices): not shared, never 0.
    pub fn revenue(&self) -> Option<Decimal> {
        self.priced()
            .then(|| micro(self.flow.revenue - self.flow.refunds))
    }
    pub fn cogs(&self) -> Option<Decimal> {
        self.priced()
            .then(|| micro(self.flow.cogs - self.flow.return_cogs))
    }
    pub fn margin(&self) -> Option<Decimal> {
        Some(self.revenue()? - self.cogs()?)
    }
    /// Gross margin as a percentage of net revenue, to two places.
    pub fn margin_pct(&self) -> Option<Decimal> {
        let revenue = self.revenue()?;
        if revenue.is_zero() {
            return None;
        }
        Some((self.margin()? * Decimal::ONE_HUNDRED / revenue).round_dp(2))
    }
}

/// The ISO week label of a Monday's date text.
fn week_label(monday: &str) -> String {
    NaiveDate::parse_from_str(monday, "%Y-%m-%d")
        .map(|d| {
            let w = d.iso_week();
            format!("{}-W{:02}", w.year(), w.week())
        })
        .unwrap_or_else(|_| monday.to_owned())
}

/// Refuses a filter that names nothing the hub knows, or dates that make
/// no period: an empty report would read as no sales.
fn check_sales_filter(sql: &mut Sql<'_>, f: &SalesFilter) -> Result<()> {
    if f.by.is_empty() {
        return Err(HubError::Invalid("by: name at least one key".into()));
    }
    if let (Some(from), Some(to)) = (f.from, f.to)
        && from >= to
    {
        return Err(HubError::Invalid(format!(
            "from {from} is not before to {to} (to is exclusive)"
        )));
    }
    check_kind(&f.kind)?;
    check_known(
        sql,
        &[
            ("site", &f.site, "SELECT id FROM site"),
            ("region", &f.region, "SELECT DISTINCT region FROM site"),
            (
                "category",
                &f.category,
                "SELECT DISTINCT category FROM product",
            ),
        ],
    )
}

fn sales(sql: &mut Sql<'_>, f: &SalesFilter) -> Result<Vec<SalesRow>> {
    check_sales_filter(sql, f)?;
    let site_day = f.by.iter().all(|k| k.per_site_day()) && f.sku.is_none() && f.category.is_none();
    let table = if site_day {
        "sales_site_day"
    } else {
        "sales_day"
    };
    let mut params = Vec::new();
    let mut bind = |v: Value| {
        params.push(v);
        format!("?{}", params.len())
    };
    let mut conds = Vec::new();
    if let Some(d) = f.from {
        conds.push(format!("r.day >= {}", bind(Value::Text(d.to_string()))));
    }
    if let Some(d) = f.to {
        conds.push(format!("r.day < {}", bind(Value::Text(d.to_string()))));
    }
    for (column, value) in [
        ("r.site", &f.site),
        ("s.region", &f.region),
        ("s.kind", &f.kind),
        ("r.sku", &f.sku),
        ("p.category", &f.category),
    ] {
        if let Some(v) = value {
            conds.push(format!("{column} = {}", bind(Value::Text(v.clone()))));
        }
    }
    let by = |ks: &[SalesKey]| f.by.iter().any(|k| ks.contains(k));
    let mut joins = String::new();
    if f.region.is_some() || f.kind.is_some() || by(&[SalesKey::Region, SalesKey::Kind]) {
        joins.push_str(" JOIN site s ON s.id = r.site");
    }
    if f.category.is_some() || by(&[SalesKey::Category, SalesKey::Brand]) {
        joins.push_str(" LEFT JOIN product p ON p.sku = r.sku");
    }
    let keys: Vec<&str> = f.by.iter().map(|k| k.column()).collect();
    let sums: Vec<String> = SUMS
        .iter()
        .map(|c| format!("CAST(SUM(r.{c}) AS BIGINT)"))
        .collect();
    let where_conds = if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    };
    let statement = format!(
        "SELECT {}, {} FROM {table} r{joins}{where_conds} GROUP BY {} ORDER BY {}",
        keys.join(", "),
        sums.join(", "),
        keys.join(", "),
        keys.join(", "),
    );
    let n = f.by.len();
    let rows: Vec<SalesRow> = sql
        .query(&statement, &params)?
        .iter()
        .map(|r| {
            let keys =
                f.by.iter()
                    .enumerate()
                    .map(|(i, k)| {
                        let v: String = r.get(i)?;
                        Ok(if *k == SalesKey::Week {
                            week_label(&v)
                        } else {
                            v
                        })
                    })
                    .collect::<Result<Vec<String>>>()?;
            Ok(SalesRow {
                keys,
                flow: Flow::from_sums(r, n)?,
            })
        })
        .collect::<Result<_>>()?;
    if let (true, Some(sku)) = (rows.is_empty(), &f.sku) {
        let known: Vec<String> = sql.column(
            "SELECT sku FROM product UNION SELECT DISTINCT sku FROM sales_day",
            vals![],
        )?;
        if !known.iter().any(|k| k == sku) {
            return Err(HubError::UnknownName(format!(
                "sku {sku:?} is not known to the hub{}",
                did_you_mean(sku, known.iter().map(String::as_str))
            )));
        }
    }
    Ok(rows)
}

/// Sell-in against sell-through of one group of sites over a period.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelRow {
    /// A site id or a region.
    pub key: String,
    /// Received from other sites' transfers in the period.
    pub sell_in: Quantity,
    /// Sold less customer returns in the period.
    pub sell_through: Quantity,
    /// `sell_in − sell_through`: how the channel's stock moved by trade.
    pub change: Quantity,
    /// On hand now.
    pub on_hand: Quantity,
    /// `on_hand` ÷ the period's sell-through per week; `None` without
    /// sell-through.
    pub weeks_of_cover: Option<Decimal>,
}

/// How the channel report groups dealers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelBy {
    Site,
    Region,
}

impl ChannelBy {
    pub fn parse(s: &str) -> Result<ChannelBy> {
        match s {
            "site" => Ok(ChannelBy::Site),
            "region" => Ok(ChannelBy::Region),
            _ => Err(HubError::Invalid(format!(
                "by {s:?} is not valid: use site or region"
            ))),
        }
    }
}

/// The period of a channel report: `to` defaults to tomorrow (so today
/// counts), `from` to four weeks before `to`.
pub fn channel_period(
    from: Option<&str>,
    to: Option<&str>,
    today: NaiveDate,
) -> Result<(NaiveDate, NaiveDate)> {
    let to = match to {
        Some(t) => jxc_shared::time::parse_date("to", t)?,
        None => today + Duration::days(1),
    };
    let from = match from {
        Some(f) => jxc_shared::time::parse_date("from", f)?,
        None => to - Duration::days(28),
    };
    if from >= to {
        return Err(HubError::Invalid(format!(
            "from {from} is not before to {to} (to is exclusive)"
        )));
    }
    Ok((from, to))
}

fn channel(
    sql: &mut Sql<'_>,
    by: ChannelBy,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<ChannelRow>> {
    if from >= to {
        return Err(HubError::Invalid(format!(
            "from {from} is not before to {to} (to is exclusive)"
        )));
    }
    let key = match by {
        ChannelBy::Site => "s.id",
        ChannelBy::Region => "s.region",
    };
    // Every dealer, with or without trade in the period: a dealer that
    // took nothing in and sold nothing is the one to look at.
    let rows = sql.query(
        &format!(
            "SELECT {key},
                    CAST(COALESCE(SUM(f.sell_in), 0) AS BIGINT),
                    CAST(COALESCE(SUM(f.sold - f.returned), 0) AS BIGINT),
                    CAST(COALESCE(SUM(b.qty), 0) AS BIGINT)
             FROM site s
             LEFT JOIN (SELECT site, SUM(sell_in) AS sell_in, SUM(sold) AS sold, SUM(returned) AS returned
                        FROM sales_site_day WHERE day >= ?1 AND day < ?2 GROUP BY site) f ON f.site = s.id
             LEFT JOIN (SELECT site, SUM(qty) AS qty FROM balance_total GROUP BY site) b ON b.site = s.id
             WHERE s.kind = 'dealer'
             GROUP BY {key} ORDER BY {key}"
        ),
        vals![from.to_string(), to.to_string()],
    )?;
    let weeks = Decimal::from((to - from).num_days()) / Decimal::from(7);
    rows.iter()
        .map(|r| {
            let (sell_in, through, on_hand): (i64, i64, i64) = (r.get(1)?, r.get(2)?, r.get(3)?);
            let per_week = micro(through) / weeks;
            Ok(ChannelRow {
                key: r.get(0)?,
                sell_in: Quantity::from_micro(sell_in),
                sell_through: Quantity::from_micro(through),
                change: Quantity::from_micro(sell_in - through),
                on_hand: Quantity::from_micro(on_hand),
                weeks_of_cover: (per_week > Decimal::ZERO)
                    .then(|| (micro(on_hand) / per_week).round_dp(1).normalize()),
            })
        })
        .collect()
}

impl Store {
    /// The sales flow grouped and filtered as `f` asks, read in one snapshot.
    pub fn sales(&self, f: &SalesFilter) -> Result<Vec<SalesRow>> {
        self.db().snapshot(|sql| sales(sql, f))
    }

    /// Sell-in against sell-through per dealer (or region of dealers) over
    /// the business days `from` (inclusive) to `to` (exclusive).
    pub fn channel(
        &self,
        by: ChannelBy,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<ChannelRow>> {
        self.db().snapshot(|sql| channel(sql, by, from, to))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sale_adds_its_qty_revenue_and_cost_and_a_return_takes_them_back() {
        let sale = flow_of(
            MovementKind::Sale,
            -1_500_000,
            -18_750_000,
            Some(30_000_000),
            false,
        )
        .unwrap();
        assert_eq!(
            (sale.sold, sale.revenue, sale.cogs),
            (1_500_000, 30_000_000, 18_750_000)
        );
        let ret = flow_of(
            MovementKind::CustomerReturn,
            500_000,
            6_250_000,
            Some(10_000_000),
            false,
        )
        .unwrap();
        let row = SalesRow {
            keys: vec![],
            flow: {
                let mut f = sale;
                f.add(&ret);
                f
            },
        };
        assert_eq!(row.net_qty(), Quantity::from_micro(1_000_000));
        assert_eq!(row.revenue(), Some(Decimal::from(20)));
        assert_eq!(row.cogs(), Some(Decimal::new(125, 1)));
        assert_eq!(row.margin(), Some(Decimal::new(75, 1)));
        assert_eq!(row.margin_pct(), Some(Decimal::new(3750, 2)));
    }

    #[test]
    fn sales_without_prices_count_their_qty_and_no_money() {
        let f = flow_of(MovementKind::Sale, -2_000_000, 0, None, false).unwrap();
        let row = SalesRow {
            keys: vec![],
            flow: f,
        };
        assert_eq!(row.qty(), Quantity::from_micro(2_000_000));
        assert_eq!(row.unpriced_qty(), Quantity::from_micro(2_000_000));
        assert_eq!(
            (row.revenue(), row.margin(), row.margin_pct()),
            (None, None, None)
        );
    }

    #[test]
    fn only_receipts_from_other_sites_are_sell_in() {
        assert_eq!(
            flow_of(MovementKind::TransferIn, 4_000_000, 0, None, true).map(|f| f.sell_in),
            Some(4_000_000)
        );
        assert_eq!(
            flow_of(MovementKind::TransferIn, 4_000_000, 0, None, false),
            None
        );
        assert_eq!(
            flow_of(MovementKind::Receipt, 4_000_000, 0, None, false),
            None
        );
    }

    #[test]
    fn weeks_start_on_monday_and_read_as_iso_weeks() {
        let d = NaiveDate::from_ymd_opt(2026, 12, 2).unwrap(); // a Wednesday
        assert_eq!(week_of(d), NaiveDate::from_ymd_opt(2026, 11, 30).unwrap());
        assert_eq!(week_label("2026-11-30"), "2026-W49");
        // 2026-12-28 is in ISO week 53 of 2026; 2027-01-04 starts week 1.
        assert_eq!(week_label("2026-12-28"), "2026-W53");
        assert_eq!(week_label("2027-01-04"), "2027-W01");
    }

    #[test]
    fn keys_are_named_once_each() {
        assert_eq!(
            SalesKey::parse_list("region,month").unwrap(),
            [SalesKey::Region, SalesKey::Month]
        );
        assert!(
            SalesKey::parse_list("site,site")
                .unwrap_err()
                .to_string()
                .contains("twice")
        );
        let e = SalesKey::parse_list("regoin").unwrap_err().to_string();
        assert!(e.contains("\"regoin\"") && e.contains("region"), "{e}");
    }
}
