//! Stocktakes (盘点). Each counted line remembers the book quantity at the
//! moment it was counted, so sales made while the count runs do not show up
//! as variance: posting adjusts by `counted − book at count time`.

use super::Store;
use crate::error::{AgentError, Result};
use chrono::{DateTime, FixedOffset};
use jxc_shared::time::format_time;
use jxc_shared::{DomainError, LocationId, Lot, Money, MovementDraft, MovementKind, Quantity, Sku};
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use rust_decimal::Decimal;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct CountSession {
    pub id: i64,
    pub location: LocationId,
    pub started_at: String,
}

/// One validated counted line, ready to record.
#[derive(Debug, Clone)]
pub struct CountEntry {
    pub sku: Sku,
    pub lot: Option<Lot>,
    pub counted: Quantity,
}

#[derive(Debug, Clone, Serialize)]
pub struct CountLine {
    pub sku: Sku,
    pub lot: Option<Lot>,
    pub book: Quantity,
    pub counted: Quantity,
    pub variance: Quantity,
    pub unit_cost: Money,
    #[serde(with = "rust_decimal::serde::str")]
    pub value: Decimal,
    /// The adjustment movement written for a non-zero variance.
    pub seq: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CountReport {
    pub count: CountSession,
    pub lines: Vec<CountLine>,
    #[serde(with = "rust_decimal::serde::str")]
    pub total_value: Decimal,
}

fn lot_str(lot: &Option<Lot>) -> &str {
    lot.as_ref().map_or("", Lot::as_str)
}

impl Store {
    pub fn count_start(
        &mut self,
        location: &LocationId,
        now: DateTime<FixedOffset>,
    ) -> Result<CountSession> {
        self.require_location(location)?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let open: Option<i64> = tx
            .query_row(
                "SELECT id FROM count_session WHERE location = ? AND status = 'open'",
                [location.as_str()],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(id) = open {
            return Err(AgentError::Conflict(format!(
                "count #{id} is already open at location {location}: post it first"
            )));
        }
        let started_at = format_time(&now);
        tx.execute(
            "INSERT INTO count_session (location, status, started_at) VALUES (?, 'open', ?)",
            params![location.as_str(), started_at],
        )?;
        let id = tx.last_insert_rowid();
        tx.commit()?;
        Ok(CountSession {
            id,
            location: location.clone(),
            started_at,
        })
    }

    /// The open count at `location`, or the only open count if none is named.
    pub fn open_count(&self, location: Option<&LocationId>) -> Result<CountSession> {
        let mut stmt = self.conn.prepare(
            "SELECT id, location, started_at FROM count_session
             WHERE status = 'open' AND (?1 IS NULL OR location = ?1) ORDER BY id",
        )?;
        let rows = stmt.query_map([location.map(LocationId::as_str)], |r| {
            Ok(CountSession {
                id: r.get(0)?,
                location: super::stored(1, LocationId::parse(&r.get::<_, String>(1)?))?,
                started_at: r.get(2)?,
            })
        })?;
        let mut open = rows.collect::<rusqlite::Result<Vec<_>>>()?;
        match (open.len(), location) {
            (1, _) => Ok(open.remove(0)),
            (0, Some(l)) => Err(AgentError::Conflict(format!(
                "no count is open at location {l}: run `count start --location {l}` first"
            ))),
            (0, None) => Err(AgentError::Conflict(
                "no count is open: run `count start --location L` first".into(),
            )),
            _ => Err(AgentError::Conflict(format!(
                "counts are open at {} locations: name one with --location",
                open.len()
            ))),
        }
    }

    /// Validates one counted line as the user wrote it.
    pub fn count_entry(&self, sku: &str, qty: &str, lot: Option<&str>) -> Result<CountEntry> {
        let product = self.require_product(&Sku::parse(sku)?)?;
        let lot = lot.filter(|l| !l.trim().is_empty());
        let lot = match (lot, product.lot_tracked) {
            (Some(l), true) => Some(Lot::parse(l)?),
            (None, false) => None,
            (None, true) => {
                return Err(DomainError::new(
                    "lot",
                    "",
                    format!("product {sku} is lot-tracked: give the lot"),
                )
                .into());
            }
            (Some(l), false) => {
                return Err(DomainError::new(
                    "lot",
                    l,
                    format!("product {sku} is not lot-tracked"),
                )
                .into());
            }
        };
        let counted = Quantity::parse_count("qty", qty, product.decimals)?;
        Ok(CountEntry {
            sku: product.sku,
            lot,
            counted,
        })
    }

    /// Records counted lines (a later count of the same line replaces it),
    /// each with the book quantity at this moment. All or nothing.
    pub fn count_record(
        &mut self,
        count: &CountSession,
        entries: &[CountEntry],
        now: DateTime<FixedOffset>,
    ) -> Result<Vec<CountLine>> {
        self.count_record_logged(count, entries, now, None)
    }

    /// Records counted lines and, for a file import, the file in the import
    /// log, in one transaction.
    pub fn count_record_logged(
        &mut self,
        count: &CountSession,
        entries: &[CountEntry],
        now: DateTime<FixedOffset>,
        import: Option<&super::FileImport>,
    ) -> Result<Vec<CountLine>> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let status: String = tx.query_row(
            "SELECT status FROM count_session WHERE id = ?",
            [count.id],
            |r| r.get(0),
        )?;
        if status != "open" {
            return Err(AgentError::Conflict(format!(
                "count #{} is already posted",
                count.id
            )));
        }
        let counted_at = format_time(&now);
        let mut out = Vec::with_capacity(entries.len());
        {
            let mut book_q =
                tx.prepare("SELECT qty FROM balance WHERE location = ? AND sku = ? AND lot = ?")?;
            let mut put = tx.prepare(
                "INSERT INTO count_line (count_id, sku, lot, counted, book, counted_at) VALUES (?, ?, ?, ?, ?, ?)
                 ON CONFLICT (count_id, sku, lot) DO UPDATE SET counted = excluded.counted, book = excluded.book, counted_at = excluded.counted_at",
            )?;
            for e in entries {
                let book: i64 = book_q
                    .query_row(
                        params![count.location.as_str(), e.sku.as_str(), lot_str(&e.lot)],
                        |r| r.get(0),
                    )
                    .optional()?
                    .unwrap_or(0);
                put.execute(params![
                    count.id,
                    e.sku.as_str(),
                    lot_str(&e.lot),
                    e.counted.to_micro(),
                    book,
                    counted_at
                ])?;
                let book = Quantity::from_micro(book);
                out.push(CountLine {
                    sku: e.sku.clone(),
                    lot: e.lot.clone(),
                    book,
                    counted: e.counted,
                    variance: Quantity::from_decimal(e.counted.decimal() - book.decimal()),
                    unit_cost: Money::ZERO,
                    value: Decimal::ZERO,
                    seq: None,
                });
            }
        }
        if let Some(import) = import {
            super::imports::record(&tx, import, out.len() as u64, now)?;
        }
        tx.commit()?;
        Ok(out)
    }

    /// Posts a count: one adjustment movement per line with a variance, and
    /// the report with quantities and values at moving-average cost.
    pub fn count_post(
        &mut self,
        count: &CountSession,
        now: DateTime<FixedOffset>,
    ) -> Result<CountReport> {
        let lines: Vec<(String, String, i64, i64)> = {
            let mut stmt = self.conn.prepare(
                "SELECT sku, lot, counted, book FROM count_line WHERE count_id = ? ORDER BY sku, lot",
            )?;
            let rows = stmt.query_map([count.id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        if lines.is_empty() {
            return Err(AgentError::Conflict(format!(
                "count #{} has no counted lines: record some with `count set` first",
                count.id
            )));
        }
        let reason = format!("stocktake #{}", count.id);
        let reference = format!("COUNT-{}", count.id);
        let mut ledger = self.ledger(now)?;
        let mut report = Vec::with_capacity(lines.len());
        let mut total = Decimal::ZERO;
        for (sku, lot, counted, book) in lines {
            let sku = Sku::parse(&sku)?;
            let lot = if lot.is_empty() {
                None
            } else {
                Some(Lot::parse(&lot)?)
            };
            let variance = Quantity::from_micro(counted - book);
            let (unit_cost, seq) = if variance.is_zero() {
                (ledger.cost_state(&count.location, &sku)?.avg, None)
            } else {
                let m = ledger.apply(MovementDraft {
                    kind: MovementKind::Adjustment,
                    location: count.location.clone(),
                    sku: sku.clone(),
                    lot: lot.clone(),
                    qty: variance,
                    unit_cost: None,
                    unit_price: None,
                    counterparty: None,
                    reference: Some(reference.clone()),
                    reason: Some(reason.clone()),
                    transfer_id: None,
                    occurred_at: now,
                })?;
                (m.unit_cost, Some(m.seq))
            };
            let value = Money::total(variance, unit_cost);
            total += value;
            report.push(CountLine {
                sku,
                lot,
                book: Quantity::from_micro(book),
                counted: Quantity::from_micro(counted),
                variance,
                unit_cost,
                value,
                seq,
            });
        }
        // Only an open count posts: another process may have posted or
        // cancelled it since it was looked up (the adjustments roll back).
        let posted = ledger.conn().execute(
            "UPDATE count_session SET status = 'posted', posted_at = ? WHERE id = ? AND status = 'open'",
            params![format_time(&now), count.id],
        )?;
        if posted == 0 {
            return Err(AgentError::Conflict(format!(
                "count #{} is no longer open: another command posted or cancelled it",
                count.id
            )));
        }
        ledger.commit()?;
        Ok(CountReport {
            count: count.clone(),
            lines: report,
            total_value: total,
        })
    }

    /// Abandons an open count: nothing is posted, its lines stay as a record
    /// of what was counted.
    pub fn count_cancel(&mut self, count: &CountSession, now: DateTime<FixedOffset>) -> Result<()> {
        let n = self.conn.execute(
            "UPDATE count_session SET status = 'cancelled', posted_at = ? WHERE id = ? AND status = 'open'",
            params![format_time(&now), count.id],
        )?;
        if n == 0 {
            return Err(AgentError::Conflict(format!(
                "count #{} is no longer open",
                count.id
            )));
        }
        Ok(())
    }
}
