//! Reading the ledger: stock, movements, status, and `verify`, which rebuilds
//! every cache from the movements and compares.

use super::{SCHEMA_VERSION, Store, stored};
use crate::error::{AgentError, Result};
use chrono::DateTime;
use jxc_shared::costing::{self, CostState};
use jxc_shared::{LocationId, Lot, Money, Movement, MovementDraft, MovementKind, Quantity, Sku};
use rusqlite::OptionalExtension;
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Default, Clone)]
pub struct StockFilter {
    pub location: Option<LocationId>,
    pub sku: Option<Sku>,
    pub lot: Option<Lot>,
    /// Include rows whose balance is zero.
    pub all: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct BalanceRow {
    pub location: LocationId,
    pub sku: Sku,
    pub lot: Option<Lot>,
    pub qty: Quantity,
    pub unit: String,
    pub avg_cost: Money,
    #[serde(with = "rust_decimal::serde::str")]
    pub value: Decimal,
}

#[derive(Debug, Default, Clone)]
pub struct MoveFilter {
    pub since: u64,
    /// At most this many movements.
    pub limit: Option<u64>,
    pub location: Option<LocationId>,
    pub sku: Option<Sku>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub site: super::SiteInfo,
    pub ledger: String,
    pub schema_version: u32,
    pub locations: u64,
    pub products: u64,
    pub movements: u64,
    pub last_recorded_at: Option<String>,
    pub open_counts: u64,
    pub transfers_in_transit: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub movements: u64,
    pub balances: u64,
    pub differences: Vec<String>,
}

fn opt_lot(s: String) -> rusqlite::Result<Option<Lot>> {
    if s.is_empty() {
        Ok(None)
    } else {
        stored(4, Lot::parse(&s)).map(Some)
    }
}

pub(super) fn money(col: usize, s: &str) -> rusqlite::Result<Money> {
    Money::from_stored(s).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            col,
            rusqlite::types::Type::Text,
            format!("{s:?} is not a decimal").into(),
        )
    })
}

fn time(col: usize, s: &str) -> rusqlite::Result<DateTime<chrono::FixedOffset>> {
    DateTime::parse_from_rfc3339(s).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(col, rusqlite::types::Type::Text, Box::new(e))
    })
}

const MOVEMENT_COLUMNS: &str = "seq, kind, location, sku, lot, qty, unit_cost, unit_price, \
     counterparty, ref, reason, transfer_id, occurred_at, recorded_at";

fn movement_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Movement> {
    let price: Option<String> = r.get(7)?;
    Ok(Movement {
        seq: r.get::<_, i64>(0)? as u64,
        draft: MovementDraft {
            kind: stored(1, MovementKind::parse(&r.get::<_, String>(1)?))?,
            location: stored(2, LocationId::parse(&r.get::<_, String>(2)?))?,
            sku: stored(3, Sku::parse(&r.get::<_, String>(3)?))?,
            lot: opt_lot(r.get(4)?)?,
            qty: Quantity::from_micro(r.get(5)?),
            unit_cost: None,
            unit_price: price.map(|p| money(7, &p)).transpose()?,
            counterparty: r.get(8)?,
            reference: r.get(9)?,
            reason: r.get(10)?,
            transfer_id: r.get(11)?,
            occurred_at: time(12, &r.get::<_, String>(12)?)?,
        },
        unit_cost: money(6, &r.get::<_, String>(6)?)?,
        recorded_at: time(13, &r.get::<_, String>(13)?)?,
    })
}

impl Store {
    pub fn stock(&self, f: &StockFilter) -> Result<Vec<BalanceRow>> {
        let mut stmt = self.conn.prepare(
            "SELECT b.location, b.sku, b.lot, b.qty, COALESCE(p.unit, ''), COALESCE(c.avg_cost, '0')
             FROM balance b
             LEFT JOIN product p ON p.sku = b.sku
             LEFT JOIN item_cost c ON c.location = b.location AND c.sku = b.sku
             WHERE (?1 IS NULL OR b.location = ?1) AND (?2 IS NULL OR b.sku = ?2)
               AND (?3 IS NULL OR b.lot = ?3) AND (?4 OR b.qty != 0)
             ORDER BY b.location, b.sku, b.lot",
        )?;
        let rows = stmt.query_map(
            rusqlite::params![
                f.location.as_ref().map(LocationId::as_str),
                f.sku.as_ref().map(Sku::as_str),
                f.lot.as_ref().map(Lot::as_str),
                f.all,
            ],
            |r| {
                let qty = Quantity::from_micro(r.get(3)?);
                let avg_cost = money(5, &r.get::<_, String>(5)?)?;
                Ok(BalanceRow {
                    location: stored(0, LocationId::parse(&r.get::<_, String>(0)?))?,
                    sku: stored(1, Sku::parse(&r.get::<_, String>(1)?))?,
                    lot: opt_lot(r.get(2)?)?,
                    qty,
                    unit: r.get(4)?,
                    avg_cost,
                    value: Money::total(qty, avg_cost),
                })
            },
        )?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Calls `each` for every movement matching `f`, in seq order, streaming.
    pub fn moves(
        &self,
        f: &MoveFilter,
        mut each: impl FnMut(Movement) -> Result<()>,
    ) -> Result<()> {
        let sql = format!(
            "SELECT {MOVEMENT_COLUMNS} FROM movement
             WHERE seq > ?1 AND (?2 IS NULL OR location = ?2) AND (?3 IS NULL OR sku = ?3)
             ORDER BY seq LIMIT ?4"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let mut rows = stmt.query(rusqlite::params![
            f.since as i64,
            f.location.as_ref().map(LocationId::as_str),
            f.sku.as_ref().map(Sku::as_str),
            f.limit.map_or(-1, |l| l as i64),
        ])?;
        while let Some(r) = rows.next()? {
            each(movement_from_row(r)?)?;
        }
        Ok(())
    }

    pub fn status(&self) -> Result<Status> {
        let count = |sql: &str| -> Result<u64> {
            Ok(self.conn.query_row(sql, [], |r| r.get::<_, i64>(0))? as u64)
        };
        let last_recorded_at: Option<String> = self
            .conn
            .query_row(
                "SELECT recorded_at FROM movement ORDER BY seq DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()?;
        Ok(Status {
            site: self.site.clone(),
            ledger: self.path.display().to_string(),
            schema_version: SCHEMA_VERSION,
            locations: count("SELECT COUNT(*) FROM location")?,
            products: count("SELECT COUNT(*) FROM product")?,
            movements: count("SELECT COALESCE(MAX(seq), 0) FROM movement")?,
            last_recorded_at,
            open_counts: count("SELECT COUNT(*) FROM count_session WHERE status = 'open'")?,
            transfers_in_transit: count("SELECT COUNT(*) FROM transfer WHERE status = 'sent'")?,
        })
    }

    /// Replays the whole ledger in seq order: the sums and costs it implies,
    /// and any movement whose stored valuation or seq does not fit.
    fn replay(&self) -> Result<Replay> {
        let mut diffs = Vec::new();
        let mut sums: HashMap<(String, String, String), i128> = HashMap::new();
        let mut costs: HashMap<(String, String), CostState> = HashMap::new();
        let mut expected_seq = 1u64;
        self.moves(&MoveFilter::default(), |m| {
            if m.seq != expected_seq {
                diffs.push(format!("seq jumps from {} to {}", expected_seq - 1, m.seq));
            }
            expected_seq = m.seq + 1;
            let d = &m.draft;
            let lot = d.lot.as_ref().map(|l| l.to_string()).unwrap_or_default();
            *sums
                .entry((d.location.to_string(), d.sku.to_string(), lot))
                .or_default() += d.qty.to_micro() as i128;
            let state = costs
                .entry((d.location.to_string(), d.sku.to_string()))
                .or_default();
            let stated = (!d.qty.is_negative()).then_some(m.unit_cost);
            let (unit, next) = costing::apply(*state, d.qty, stated);
            if unit != m.unit_cost {
                diffs.push(format!(
                    "movement #{} is valued at {} but replaying the ledger gives {}",
                    m.seq, m.unit_cost, unit
                ));
            }
            *state = next;
            Ok(())
        })?;
        Ok(Replay {
            movements: expected_seq - 1,
            sums,
            costs,
            diffs,
        })
    }

    /// Replays the whole ledger and compares the result with the balance and
    /// cost caches. Also proves seq is gapless from 1.
    pub fn verify(&self) -> Result<VerifyReport> {
        let Replay {
            movements,
            sums,
            mut costs,
            mut diffs,
        } = self.replay()?;
        let mut cached: BTreeMap<(String, String, String), i64> = BTreeMap::new();
        let mut stmt = self
            .conn
            .prepare("SELECT location, sku, lot, qty FROM balance")?;
        for row in stmt.query_map([], |r| Ok(((r.get(0)?, r.get(1)?, r.get(2)?), r.get(3)?)))? {
            let (k, v) = row?;
            cached.insert(k, v);
        }
        let balances = cached.len() as u64;
        for (k, sum) in &sums {
            let have = cached.remove(k).unwrap_or(0);
            if have as i128 != *sum {
                diffs.push(format!(
                    "balance of {}/{}{} is {} but its movements sum to {}",
                    k.0,
                    k.1,
                    if k.2.is_empty() {
                        String::new()
                    } else {
                        format!(" lot {}", k.2)
                    },
                    Quantity::from_micro(have),
                    Decimal::from_i128_with_scale(*sum, 6).normalize()
                ));
            }
        }
        for (k, v) in cached.into_iter().filter(|(_, v)| *v != 0) {
            diffs.push(format!(
                "balance of {}/{} lot {:?} is {} with no movements",
                k.0,
                k.1,
                k.2,
                Quantity::from_micro(v)
            ));
        }

        let mut stmt = self
            .conn
            .prepare("SELECT location, sku, qty, avg_cost FROM item_cost")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                (r.get::<_, String>(0)?, r.get::<_, String>(1)?),
                r.get::<_, i64>(2)?,
                r.get::<_, String>(3)?,
            ))
        })?;
        for row in rows {
            let ((loc, sku), qty, avg) = row?;
            let want = costs
                .remove(&(loc.clone(), sku.clone()))
                .unwrap_or_default();
            let have = CostState {
                qty: Quantity::from_micro(qty),
                avg: money(3, &avg)?,
            };
            if have != want {
                diffs.push(format!(
                    "cost of {loc}/{sku} is {} at {} but replaying gives {} at {}",
                    have.qty, have.avg, want.qty, want.avg
                ));
            }
        }
        for ((loc, sku), want) in costs {
            if want != CostState::default() {
                diffs.push(format!(
                    "cost of {loc}/{sku} is missing; replaying gives {} at {}",
                    want.qty, want.avg
                ));
            }
        }
        Ok(VerifyReport {
            movements,
            balances,
            differences: diffs,
        })
    }

    /// Rewrites the balance and cost caches from the ledger, in one
    /// transaction that holds off writers meanwhile. Refused if the ledger
    /// itself is inconsistent (a seq gap or a mis-valued movement), which
    /// rebuilding caches could not repair.
    pub fn rebuild(&mut self) -> Result<VerifyReport> {
        let tx = rusqlite::Transaction::new_unchecked(
            &self.conn,
            rusqlite::TransactionBehavior::Immediate,
        )?;
        let r = self.replay()?;
        if !r.diffs.is_empty() {
            return Err(AgentError::Mismatch(format!(
                "the ledger itself is inconsistent, so its caches cannot be rebuilt:\n  {}",
                r.diffs.join("\n  ")
            )));
        }
        tx.execute_batch("DELETE FROM balance; DELETE FROM item_cost;")?;
        {
            let mut bal =
                tx.prepare("INSERT INTO balance (location, sku, lot, qty) VALUES (?, ?, ?, ?)")?;
            for ((loc, sku, lot), sum) in &r.sums {
                let qty = i64::try_from(*sum).map_err(|_| {
                    AgentError::Mismatch(format!("the balance of {loc}/{sku} overflows"))
                })?;
                bal.execute(rusqlite::params![loc, sku, lot, qty])?;
            }
            let mut cost = tx.prepare(
                "INSERT INTO item_cost (location, sku, qty, avg_cost) VALUES (?, ?, ?, ?)",
            )?;
            for ((loc, sku), c) in &r.costs {
                cost.execute(rusqlite::params![
                    loc,
                    sku,
                    c.qty.to_micro(),
                    c.avg.to_string()
                ])?;
            }
        }
        tx.commit()?;
        Ok(VerifyReport {
            movements: r.movements,
            balances: r.sums.len() as u64,
            differences: Vec::new(),
        })
    }
}

struct Replay {
    movements: u64,
    sums: HashMap<(String, String, String), i128>,
    costs: HashMap<(String, String), CostState>,
    diffs: Vec<String>,
}

impl VerifyReport {
    pub fn into_result(self) -> Result<VerifyReport> {
        if self.differences.is_empty() {
            Ok(self)
        } else {
            Err(AgentError::Mismatch(format!(
                "verify found {} difference(s) between the ledger and its balances:\n  {}",
                self.differences.len(),
                self.differences.join("\n  ")
            )))
        }
    }
}
