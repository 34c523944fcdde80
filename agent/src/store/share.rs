//! A dealer's outbound stream: the ledger filtered and reshaped by its
//! sharing policy before anything leaves the machine.
//!
//! Publishing walks the ledger from where it last stopped and appends what
//! the policy shares to `share_out`, numbered 1, 2, 3… in a sequence of its
//! own, so sync keeps its gapless, idempotent properties and the hub learns
//! nothing of what was left out, not even how many. Once published, a
//! record never changes: a policy change acts from then on.
//!
//! - Products: a dealer's code is sent under the HQ SKU it maps to; an own
//!   item that maps to nothing never leaves.
//! - Stock scope and start date: movements of products outside them are not
//!   sent. When a (location, SKU, lot) is first shared, or shared again, a
//!   reconciling movement (an opening, or an adjustment) brings HQ's on-hand
//!   to the dealer's before the next movement.
//! - Sell-through: customer identity as recorded, a keyed pseudonym with
//!   region and type, or daily totals (held until the business day ends).
//! - Costs and prices: sent as 0 and none unless shared.
//! - Transfers with other sites are always sent: the hub routes them.

use super::Store;
use crate::error::{AgentError, Result};
use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone};
use jxc_shared::docs::{SellThrough, SharePolicy};
use jxc_shared::protocol::WireMovement;
use jxc_shared::share::{
    REASON_SHARING_BEGAN, REASON_SHARING_RESUMED, is_inter_site_transfer, is_sell_through,
    pseudonym, pseudonymous_counterparty, shape,
};
use jxc_shared::time::parse_time;
use jxc_shared::{Money, MovementKind, SiteKind};
use rusqlite::{OptionalExtension, Transaction, TransactionBehavior, params};
use rust_decimal::prelude::ToPrimitive;
use std::collections::HashMap;

type Key = (String, String, String);

/// One ledger row as publishing reads it.
struct Row {
    seq: i64,
    kind: MovementKind,
    location: String,
    sku: String,
    lot: String,
    qty: i64,
    unit_cost: String,
    unit_price: Option<String>,
    counterparty: Option<String>,
    reference: Option<String>,
    reason: Option<String>,
    transfer_id: Option<String>,
    occurred: DateTime<FixedOffset>,
    recorded: DateTime<FixedOffset>,
}

/// State of one publishing pass.
struct Pass<'a> {
    tx: &'a Transaction<'a>,
    site: String,
    policy: SharePolicy,
    key: Vec<u8>,
    next: i64,
    /// Σ qty published per key (None: never shared).
    published: HashMap<Key, Option<i64>>,
    customers: HashMap<String, (String, String)>,
}

fn corrupt(what: &str) -> AgentError {
    AgentError::DataDir(format!("the ledger's {what} is damaged"))
}

impl Pass<'_> {
    fn emit(&mut self, w: &mut WireMovement) -> Result<()> {
        w.seq = self.next as u64;
        let bytes = postcard::to_stdvec(&w).map_err(|_| corrupt("outbound record"))?;
        self.tx.execute(
            "INSERT INTO share_out (seq, wire) VALUES (?, ?)",
            params![self.next, bytes],
        )?;
        self.next += 1;
        Ok(())
    }

    fn published(&mut self, k: &Key) -> Result<Option<i64>> {
        if let Some(p) = self.published.get(k) {
            return Ok(*p);
        }
        let p: Option<i64> = self
            .tx
            .query_row(
                "SELECT qty FROM share_key WHERE location = ? AND sku = ? AND lot = ?",
                params![k.0, k.1, k.2],
                |r| r.get(0),
            )
            .optional()?;
        self.published.insert(k.clone(), p);
        Ok(p)
    }

    fn add_published(&mut self, k: &Key, qty: i64) -> Result<()> {
        let p = self.published(k)?.unwrap_or(0);
        self.published.insert(k.clone(), Some(p + qty));
        Ok(())
    }

    /// Before a shared movement: if HQ's view of the key differs from the
    /// dealer's (sharing began or resumed), send the difference.
    fn reconcile(&mut self, k: &Key, expected: i64, at: &Row) -> Result<()> {
        let published = self.published(k)?;
        let diff = expected - published.unwrap_or(0);
        if diff != 0 {
            let (kind, reason) = match published {
                None if diff > 0 => (MovementKind::Opening, None),
                None => (
                    MovementKind::Adjustment,
                    Some(REASON_SHARING_BEGAN.to_owned()),
                ),
                Some(_) => (
                    MovementKind::Adjustment,
                    Some(REASON_SHARING_RESUMED.to_owned()),
                ),
            };
            let mut w = self.wire(k, kind, diff, at);
            w.reason = reason;
            self.emit(&mut w)?;
        }
        self.published.insert(k.clone(), Some(expected));
        Ok(())
    }

    fn cost(&self, text: &str) -> String {
        if self.policy.costs_and_prices {
            text.to_owned()
        } else {
            "0".to_owned()
        }
    }

    /// A bare movement on key `k` dated like `at`.
    fn wire(&self, k: &Key, kind: MovementKind, qty: i64, at: &Row) -> WireMovement {
        WireMovement {
            seq: 0,
            kind,
            location: format!("{}/{}", self.site, k.0),
            sku: k.1.clone(),
            lot: k.2.clone(),
            qty_micro: qty,
            unit_cost: self.cost(&at.unit_cost),
            unit_price: None,
            counterparty: None,
            reference: None,
            reason: None,
            transfer_id: None,
            occurred_ms: at.occurred.timestamp_millis(),
            offset_min: (at.occurred.offset().local_minus_utc() / 60) as i16,
            recorded_ms: at.recorded.timestamp_millis(),
        }
    }

    /// The movement as the policy lets it be sent: every field as recorded,
    /// then shaped by the one rule both ends apply ([`shape`]).
    fn shaped(&self, k: &Key, m: &Row) -> WireMovement {
        let mut w = self.wire(k, m.kind, m.qty, m);
        w.unit_cost = m.unit_cost.clone();
        w.unit_price = m.unit_price.clone();
        w.counterparty = m.counterparty.clone();
        w.reference = m.reference.clone();
        w.reason = m.reason.clone();
        w.transfer_id = m.transfer_id.clone();
        shape(&self.policy, &mut w, |c| {
            let (region, kind) = self.customers.get(c).cloned().unwrap_or_default();
            pseudonymous_counterparty(&pseudonym(&self.key, c), &region, &kind)
        });
        w
    }
}

/// seq, kind, nine optional texts (location … transfer_id), qty, occurred,
/// recorded: a ledger row before parsing.
type RawRow = (i64, String, [Option<String>; 9], i64, String, String);

fn read_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        [
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
            r.get(6)?,
            r.get(7)?,
            r.get(8)?,
            r.get(9)?,
            r.get(10)?,
        ],
        r.get(11)?,
        r.get(12)?,
        r.get(13)?,
    ))
}

impl Store {
    /// Publishes what the dealer's policy shares of the ledger written since
    /// the last pass, and the daily totals of days that have ended.
    /// Returns the last outbound seq. A branch publishes nothing here.
    pub fn publish_shared(&mut self, now: DateTime<FixedOffset>) -> Result<u64> {
        if self.site.kind != SiteKind::Dealer {
            return self.last_seq();
        }
        let policy = self.share_policy()?;
        let site = self.site.id.to_string();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let key: Vec<u8> = tx.query_row("SELECT share_key FROM site", [], |r| r.get(0))?;
        let mut upto: i64 = tx.query_row("SELECT share_upto FROM sync_state", [], |r| r.get(0))?;
        let next: i64 =
            tx.query_row("SELECT COALESCE(MAX(seq), 0) + 1 FROM share_out", [], |r| {
                r.get(0)
            })?;
        let sku_map: HashMap<String, String> = collect(&tx, "SELECT code, hq_sku FROM sku_map")?;
        let categories: HashMap<String, String> =
            collect(&tx, "SELECT sku, category FROM product WHERE origin = 'hq'")?;
        // Local SKUs counted under each HQ SKU.
        let mut locals: HashMap<String, Vec<String>> = HashMap::new();
        for sku in categories.keys() {
            locals.entry(sku.clone()).or_default().push(sku.clone());
        }
        for (code, hq) in &sku_map {
            locals.entry(hq.clone()).or_default().push(code.clone());
        }
        let customers = {
            let mut stmt = tx.prepare("SELECT id, region, type FROM customer")?;
            stmt.query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))?
                .collect::<rusqlite::Result<HashMap<String, (String, String)>>>()?
        };
        let daily = policy.sell_through == SellThrough::DailyTotals;
        let mut pass = Pass {
            tx: &tx,
            site: site.clone(),
            policy,
            key,
            next,
            published: HashMap::new(),
            customers,
        };
        let own = self.site.id.clone();
        let mut running: HashMap<Key, i64> = HashMap::new();
        let mut held: HashMap<Key, i64> = HashMap::new();
        let rows = {
            let mut stmt = tx.prepare(
                "SELECT seq, kind, location, sku, lot, unit_cost, unit_price, counterparty, ref, reason,
                        transfer_id, qty, occurred_at, recorded_at
                 FROM movement WHERE seq > ? ORDER BY seq",
            )?;
            stmt.query_map([upto], read_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?
        };
        for (seq, kind, text, qty, occurred, recorded) in rows {
            let [
                location,
                sku,
                lot,
                unit_cost,
                unit_price,
                counterparty,
                reference,
                reason,
                transfer_id,
            ] = text;
            let m = Row {
                seq,
                kind: MovementKind::parse(&kind).map_err(|_| corrupt("movement kind"))?,
                location: location.unwrap_or_default(),
                sku: sku.unwrap_or_default(),
                lot: lot.unwrap_or_default(),
                qty,
                unit_cost: unit_cost.unwrap_or_else(|| "0".into()),
                unit_price,
                counterparty,
                reference,
                reason,
                transfer_id,
                occurred: parse_time("occurred_at", &occurred)
                    .map_err(|_| corrupt("movement time"))?,
                recorded: parse_time("recorded_at", &recorded)
                    .map_err(|_| corrupt("movement time"))?,
            };
            upto = m.seq;
            let hq_sku = match sku_map.get(&m.sku) {
                Some(hq) => hq.clone(),
                None if categories.contains_key(&m.sku) => m.sku.clone(),
                None => continue, // an own item: never leaves
            };
            let k: Key = (m.location.clone(), hq_sku.clone(), m.lot.clone());
            let before = match running.get(&k) {
                Some(b) => *b,
                None => balance_before(&tx, &k, locals.get(&hq_sku), m.seq)?,
            };
            running.insert(k.clone(), before + m.qty);
            let transfer = is_inter_site_transfer(&own, m.kind, m.counterparty.as_deref());
            let category = categories.get(&hq_sku).map(String::as_str).unwrap_or("");
            let in_scope = pass.policy.shares_stock(&hq_sku, category)
                && pass
                    .policy
                    .from
                    .is_none_or(|f| m.occurred.date_naive() >= f);
            if !(transfer || in_scope) {
                continue;
            }
            if daily && is_sell_through(m.kind) {
                // qty (millionths) × unit cost or price: the value in millionths.
                let value_micro = |unit: &str| {
                    Money::from_stored(unit).and_then(|c| {
                        (rust_decimal::Decimal::from(m.qty) * c.decimal())
                            .round()
                            .to_i64()
                    })
                };
                let cost_micro = value_micro(&m.unit_cost).unwrap_or(0);
                let price_micro = m.unit_price.as_deref().and_then(value_micro);
                // The business day is the site's own, in its time zone.
                let zone = crate::clock::zone();
                let day = m.occurred.with_timezone(&zone).date_naive();
                let start = day_start(zone, day);
                tx.execute(
                    "INSERT INTO share_held (local_seq, kind, location, sku, lot, day, offset_min, qty, cost_micro, price_micro)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    params![
                        m.seq,
                        m.kind.as_str(),
                        k.0,
                        k.1,
                        k.2,
                        day.to_string(),
                        start.offset().local_minus_utc() / 60,
                        m.qty,
                        cost_micro,
                        price_micro
                    ],
                )?;
                *held.entry(k).or_insert(0) += m.qty;
                continue;
            }
            let held_qty = match held.get(&k) {
                Some(h) => *h,
                None => held_before(&tx, &k)?,
            };
            held.insert(k.clone(), held_qty);
            pass.reconcile(&k, before - held_qty, &m)?;
            let mut w = pass.shaped(&k, &m);
            pass.emit(&mut w)?;
            pass.add_published(&k, m.qty)?;
        }
        release_daily_totals(&mut pass, now)?;
        reconcile_in_scope(&mut pass, &sku_map, &categories, now)?;
        for (k, qty) in &pass.published {
            if let Some(q) = qty {
                tx.execute(
                    "INSERT INTO share_key (location, sku, lot, qty) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (location, sku, lot) DO UPDATE SET qty = ?4",
                    params![k.0, k.1, k.2, q],
                )?;
            }
        }
        let last = pass.next - 1;
        tx.execute("UPDATE sync_state SET share_upto = ?", [upto])?;
        tx.commit()?;
        Ok(last as u64)
    }

    /// The last seq of what this site sends: the ledger's for a branch, the
    /// outbound stream's for a dealer.
    pub fn outbound_last_seq(&self) -> Result<u64> {
        if self.site.kind != SiteKind::Dealer {
            return self.last_seq();
        }
        Ok(self
            .conn
            .query_row("SELECT COALESCE(MAX(seq), 0) FROM share_out", [], |r| {
                r.get::<_, i64>(0)
            })? as u64)
    }

    /// The next batch to send from `from_seq`.
    pub fn outbound_batch(&self, from_seq: u64, limit: usize) -> Result<Vec<WireMovement>> {
        if self.site.kind != SiteKind::Dealer {
            return self.wire_batch(from_seq, limit);
        }
        let mut stmt = self
            .conn
            .prepare_cached("SELECT wire FROM share_out WHERE seq >= ? ORDER BY seq LIMIT ?")?;
        let rows = stmt.query_map(params![from_seq as i64, limit as i64], |r| {
            r.get::<_, Vec<u8>>(0)
        })?;
        let mut out = Vec::new();
        for row in rows {
            out.push(postcard::from_bytes(&row?).map_err(|_| corrupt("outbound record"))?);
        }
        Ok(out)
    }
}

fn collect(tx: &Transaction<'_>, sql: &str) -> Result<HashMap<String, String>> {
    let mut stmt = tx.prepare(sql)?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The dealer's on-hand of a key just before ledger seq `seq`, over every
/// local SKU counted under the HQ SKU.
fn balance_before(
    tx: &Transaction<'_>,
    k: &Key,
    locals: Option<&Vec<String>>,
    seq: i64,
) -> Result<i64> {
    let mut total = 0i64;
    let mut stmt = tx.prepare_cached(
        "SELECT COALESCE(SUM(qty), 0) FROM movement WHERE location = ? AND sku = ? AND lot = ? AND seq < ?",
    )?;
    for sku in locals.into_iter().flatten() {
        total += stmt.query_row(params![k.0, sku, k.2, seq], |r| r.get::<_, i64>(0))?;
    }
    Ok(total)
}

fn held_before(tx: &Transaction<'_>, k: &Key) -> Result<i64> {
    Ok(tx.query_row(
        "SELECT COALESCE(SUM(qty), 0) FROM share_held WHERE location = ? AND sku = ? AND lot = ?",
        params![k.0, k.1, k.2],
        |r| r.get(0),
    )?)
}

/// After a pass, every (location, HQ SKU, lot) the policy covers must show
/// at HQ what the dealer holds (less sales held for daily totals), even one
/// that did not move since sharing widened: reconcile those that differ.
fn reconcile_in_scope(
    pass: &mut Pass<'_>,
    sku_map: &HashMap<String, String>,
    categories: &HashMap<String, String>,
    now: DateTime<FixedOffset>,
) -> Result<()> {
    if pass.policy.from.is_some_and(|f| now.date_naive() < f) {
        return Ok(());
    }
    let mut held: HashMap<Key, i64> = HashMap::new();
    {
        let mut stmt = pass.tx.prepare(
            "SELECT location, sku, lot, SUM(qty) FROM share_held GROUP BY location, sku, lot",
        )?;
        let rows = stmt.query_map([], |r| Ok(((r.get(0)?, r.get(1)?, r.get(2)?), r.get(3)?)))?;
        for row in rows {
            let (k, q): (Key, i64) = row?;
            held.insert(k, q);
        }
    }
    let mut balances: HashMap<Key, (i64, String)> = HashMap::new();
    {
        let mut stmt = pass.tx.prepare(
            "SELECT b.location, b.sku, b.lot, b.qty, COALESCE(c.avg_cost, '0') FROM balance b
             LEFT JOIN item_cost c ON c.location = b.location AND c.sku = b.sku",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, String>(4)?,
            ))
        })?;
        for row in rows {
            let (location, sku, lot, qty, cost) = row?;
            let hq = match sku_map.get(&sku) {
                Some(hq) => hq.clone(),
                None if categories.contains_key(&sku) => sku,
                None => continue,
            };
            let category = categories.get(&hq).map(String::as_str).unwrap_or("");
            if !pass.policy.shares_stock(&hq, category) {
                continue;
            }
            let e = balances.entry((location, hq, lot)).or_insert((0, cost));
            e.0 += qty;
        }
    }
    let mut keys: Vec<Key> = balances.keys().cloned().collect();
    keys.sort();
    for k in keys {
        let (qty, cost) = &balances[&k];
        let expected = qty - held.get(&k).copied().unwrap_or(0);
        if pass.published(&k)?.unwrap_or(0) == expected {
            continue;
        }
        let at = Row {
            seq: 0,
            kind: MovementKind::Adjustment,
            location: k.0.clone(),
            sku: k.1.clone(),
            lot: k.2.clone(),
            qty: 0,
            unit_cost: cost.clone(),
            unit_price: None,
            counterparty: None,
            reference: None,
            reason: None,
            transfer_id: None,
            occurred: now,
            recorded: now,
        };
        pass.reconcile(&k, expected, &at)?;
    }
    Ok(())
}

/// The start of a business day in the site's zone (the first instant that
/// exists, where a daylight-saving change skips midnight).
fn day_start(zone: chrono_tz::Tz, day: NaiveDate) -> DateTime<FixedOffset> {
    (0..24)
        .filter_map(|h| day.and_hms_opt(h, 0, 0))
        .find_map(|t| zone.from_local_datetime(&t).earliest())
        .map(|t| t.fixed_offset())
        .unwrap_or_else(|| {
            chrono::Utc
                .from_utc_datetime(&day.and_time(chrono::NaiveTime::MIN))
                .fixed_offset()
        })
}

/// Sends one total per (kind, location, SKU, lot, day) for every business
/// day of the site's that has ended, dated at the start of that day: its
/// quantity, and, as the policy allows, its average cost and price.
fn release_daily_totals(pass: &mut Pass<'_>, now: DateTime<FixedOffset>) -> Result<()> {
    type Group = (
        String,
        String,
        String,
        String,
        String,
        i32,
        i64,
        i64,
        Option<i64>,
    );
    // Sales without a price make a total of their own, so a day's average
    // price times its quantity is its revenue.
    let groups: Vec<Group> = {
        let mut stmt = pass.tx.prepare(
            "SELECT kind, location, sku, lot, day, offset_min, SUM(qty), SUM(cost_micro), SUM(price_micro)
             FROM share_held
             GROUP BY kind, location, sku, lot, day, offset_min, price_micro IS NULL
             ORDER BY day, kind, location, sku, lot, price_micro IS NULL",
        )?;
        stmt.query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
            ))
        })?
        .collect::<rusqlite::Result<_>>()?
    };
    let mut released = Vec::new();
    for (kind, location, sku, lot, day, offset_min, qty, cost_micro, price_micro) in groups {
        let (Some(offset), Ok(date)) = (
            FixedOffset::east_opt(offset_min * 60),
            NaiveDate::parse_from_str(&day, "%Y-%m-%d"),
        ) else {
            return Err(corrupt("held daily total"));
        };
        let Some(start) = date
            .and_hms_opt(0, 0, 0)
            .and_then(|t| offset.from_local_datetime(&t).single())
        else {
            return Err(corrupt("held daily total"));
        };
        if now < start + chrono::Duration::days(1) {
            continue; // the day is not over where it happened
        }
        let k: Key = (location, sku, lot);
        let average = |value_micro: i64| {
            Money::round_unit(
                rust_decimal::Decimal::from(value_micro) / rust_decimal::Decimal::from(qty),
            )
            .to_string()
        };
        let unit_cost = if qty == 0 {
            "0".to_owned()
        } else {
            average(cost_micro)
        };
        let unit_price = price_micro.filter(|_| qty != 0).map(average);
        let at = Row {
            seq: 0,
            kind: MovementKind::parse(&kind).map_err(|_| corrupt("held daily total"))?,
            location: k.0.clone(),
            sku: k.1.clone(),
            lot: k.2.clone(),
            qty,
            unit_cost,
            unit_price,
            counterparty: None,
            reference: None,
            reason: None,
            transfer_id: None,
            occurred: start,
            recorded: now,
        };
        if qty != 0 {
            let mut w = pass.shaped(&k, &at);
            pass.emit(&mut w)?;
            pass.add_published(&k, qty)?;
        }
        released.push((kind, k, day, offset_min));
    }
    // Both totals of a group (priced and not) go in this pass together.
    for (kind, k, day, offset_min) in released {
        pass.tx.execute(
            "DELETE FROM share_held WHERE kind = ? AND location = ? AND sku = ? AND lot = ? AND day = ? AND offset_min = ?",
            params![kind, k.0, k.1, k.2, day, offset_min],
        )?;
    }
    Ok(())
}
