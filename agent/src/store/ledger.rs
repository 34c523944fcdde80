//! The ledger's write path: one transaction that numbers movements, checks
//! stock, values them at moving-average cost and keeps the balance caches.
//!
//! Balances and costs touched by the transaction are cached in memory and
//! written back once per flush, so a bulk import pays one upsert per distinct
//! (location, sku, lot) instead of one per row.

use super::stored;
use crate::error::{AgentError, Result};
use chrono::{DateTime, FixedOffset};
use jxc_shared::costing::{self, CostState};
use jxc_shared::row::unknown_location;
use jxc_shared::time::format_time;
use jxc_shared::{
    DomainError, LocationId, Lot, Money, Movement, MovementDraft, Quantity, SiteId, Sku,
};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use std::collections::HashMap;

/// Past this many cached entries a flush also empties the cache, which
/// bounds memory on imports that touch very many items.
const CACHE_LIMIT: usize = 100_000;

type BalKey = (LocationId, Sku, Option<Lot>);
type CostKey = (LocationId, Sku);

struct Cached<T> {
    value: T,
    dirty: bool,
}

pub struct LedgerTx<'c> {
    tx: Transaction<'c>,
    site: SiteId,
    next_seq: u64,
    now: DateTime<FixedOffset>,
    recorded_at: String,
    locations: HashMap<LocationId, bool>,
    balances: HashMap<BalKey, Cached<i64>>,
    costs: HashMap<CostKey, Cached<CostState>>,
}

fn lot_str(lot: &Option<Lot>) -> &str {
    lot.as_ref().map_or("", Lot::as_str)
}

impl<'c> LedgerTx<'c> {
    pub(super) fn begin(
        conn: &'c mut Connection,
        site: SiteId,
        now: DateTime<FixedOffset>,
    ) -> Result<Self> {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let last: i64 = tx.query_row("SELECT COALESCE(MAX(seq), 0) FROM movement", [], |r| {
            r.get(0)
        })?;
        let locations = {
            let mut stmt = tx.prepare("SELECT id, allow_negative FROM location")?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    stored(0, LocationId::parse(&r.get::<_, String>(0)?))?,
                    r.get(1)?,
                ))
            })?;
            rows.collect::<rusqlite::Result<HashMap<_, _>>>()?
        };
        Ok(Self {
            tx,
            site,
            next_seq: last as u64 + 1,
            recorded_at: format_time(&now),
            now,
            locations,
            balances: HashMap::new(),
            costs: HashMap::new(),
        })
    }

    pub fn site(&self) -> &SiteId {
        &self.site
    }

    /// The seq the next applied movement will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    pub fn now(&self) -> DateTime<FixedOffset> {
        self.now
    }

    pub fn has_location(&self, id: &LocationId) -> bool {
        self.locations.contains_key(id)
    }

    pub(super) fn conn(&self) -> &Connection {
        &self.tx
    }

    /// On hand at (location, sku, lot) as of this transaction.
    pub fn on_hand(
        &mut self,
        location: &LocationId,
        sku: &Sku,
        lot: &Option<Lot>,
    ) -> Result<Quantity> {
        let key = (location.clone(), sku.clone(), lot.clone());
        Ok(Quantity::from_micro(self.balance(&key)?))
    }

    fn balance(&mut self, key: &BalKey) -> Result<i64> {
        if let Some(c) = self.balances.get(key) {
            return Ok(c.value);
        }
        let v: Option<i64> = self
            .tx
            .prepare_cached("SELECT qty FROM balance WHERE location = ? AND sku = ? AND lot = ?")?
            .query_row(
                params![key.0.as_str(), key.1.as_str(), lot_str(&key.2)],
                |r| r.get(0),
            )
            .optional()?;
        let value = v.unwrap_or(0);
        self.balances.insert(
            key.clone(),
            Cached {
                value,
                dirty: false,
            },
        );
        Ok(value)
    }

    /// Quantity and moving-average cost of (location, sku) over all lots.
    pub fn cost_state(&mut self, location: &LocationId, sku: &Sku) -> Result<CostState> {
        let key = (location.clone(), sku.clone());
        if let Some(c) = self.costs.get(&key) {
            return Ok(c.value);
        }
        let row: Option<(i64, String)> = self
            .tx
            .prepare_cached("SELECT qty, avg_cost FROM item_cost WHERE location = ? AND sku = ?")?
            .query_row(params![location.as_str(), sku.as_str()], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        let value = match row {
            None => CostState::default(),
            Some((qty, avg)) => CostState {
                qty: Quantity::from_micro(qty),
                avg: Money::from_stored(&avg).ok_or_else(|| {
                    AgentError::DataDir(format!(
                        "item_cost of {location}/{sku} holds {avg:?}, not a number"
                    ))
                })?,
            },
        };
        self.costs.insert(
            key,
            Cached {
                value,
                dirty: false,
            },
        );
        Ok(value)
    }

    /// Numbers, checks, values and writes one movement.
    pub fn apply(&mut self, draft: MovementDraft) -> Result<Movement> {
        let allow_negative = *self
            .locations
            .get(&draft.location)
            .ok_or_else(|| AgentError::Invalid(unknown_location(&draft.location)))?;
        let key = (draft.location.clone(), draft.sku.clone(), draft.lot.clone());
        let before = self.balance(&key)?;
        let delta = draft.qty.to_micro();
        let after = before.checked_add(delta).ok_or_else(|| {
            DomainError::new("qty", draft.qty.to_string(), "the balance would overflow")
        })?;
        if delta < 0 && after < 0 && !allow_negative {
            let lot = draft
                .lot
                .as_ref()
                .map(|l| format!(" lot {l}"))
                .unwrap_or_default();
            return Err(AgentError::Refused(DomainError::new(
                "qty",
                draft.qty.decimal().abs().to_string(),
                format!(
                    "only {} on hand of sku {}{lot} at location {} (negative stock is not allowed there)",
                    Quantity::from_micro(before),
                    draft.sku,
                    draft.location
                ),
            )));
        }
        let state = self.cost_state(&draft.location, &draft.sku)?;
        let (unit_cost, new_state) = costing::apply(state, draft.qty, draft.unit_cost);
        if new_state.qty.checked_micro().is_none() {
            return Err(AgentError::Invalid(DomainError::new(
                "qty",
                draft.qty.to_string(),
                "the total of this item at this location would overflow",
            )));
        }

        let seq = self.next_seq;
        self.tx
            .prepare_cached(
                "INSERT INTO movement (seq, kind, location, sku, lot, qty, unit_cost, unit_price,
                 counterparty, ref, reason, transfer_id, occurred_at, recorded_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            )?
            .execute(params![
                seq as i64,
                draft.kind.as_str(),
                draft.location.as_str(),
                draft.sku.as_str(),
                lot_str(&draft.lot),
                delta,
                unit_cost.to_string(),
                draft.unit_price.map(|p| p.to_string()),
                draft.counterparty,
                draft.reference,
                draft.reason,
                draft.transfer_id,
                format_time(&draft.occurred_at),
                self.recorded_at,
            ])?;
        self.next_seq += 1;
        self.balances.insert(
            key,
            Cached {
                value: after,
                dirty: true,
            },
        );
        self.costs.insert(
            (draft.location.clone(), draft.sku.clone()),
            Cached {
                value: new_state,
                dirty: true,
            },
        );
        if self.balances.len() > CACHE_LIMIT || self.costs.len() > CACHE_LIMIT {
            self.flush()?;
            self.balances.clear();
            self.costs.clear();
        }
        Ok(Movement {
            seq,
            draft,
            unit_cost,
            recorded_at: self.now,
        })
    }

    fn flush(&mut self) -> Result<()> {
        let mut bal = self.tx.prepare_cached(
            "INSERT INTO balance (location, sku, lot, qty) VALUES (?, ?, ?, ?)
             ON CONFLICT (location, sku, lot) DO UPDATE SET qty = excluded.qty",
        )?;
        for ((loc, sku, lot), c) in self.balances.iter_mut().filter(|(_, c)| c.dirty) {
            bal.execute(params![loc.as_str(), sku.as_str(), lot_str(lot), c.value])?;
            c.dirty = false;
        }
        let mut cost = self.tx.prepare_cached(
            "INSERT INTO item_cost (location, sku, qty, avg_cost) VALUES (?, ?, ?, ?)
             ON CONFLICT (location, sku) DO UPDATE SET qty = excluded.qty, avg_cost = excluded.avg_cost",
        )?;
        for ((loc, sku), c) in self.costs.iter_mut().filter(|(_, c)| c.dirty) {
            cost.execute(params![
                loc.as_str(),
                sku.as_str(),
                c.value.qty.to_micro(),
                c.value.avg.to_string()
            ])?;
            c.dirty = false;
        }
        Ok(())
    }

    /// Writes the caches back and commits: durable when this returns.
    /// Refuses a file imported before (unless `--again`); see `imports`.
    pub fn check_import(&self, import: &super::FileImport) -> Result<()> {
        super::imports::check(&self.tx, import)
    }

    /// Records an imported file in this transaction, so its hash commits
    /// with its rows.
    pub fn record_import(&self, import: &super::FileImport, rows: u64) -> Result<()> {
        super::imports::record(&self.tx, import, rows, self.now)
    }

    pub fn commit(mut self) -> Result<()> {
        self.flush()?;
        self.tx.commit()?;
        Ok(())
    }
}
