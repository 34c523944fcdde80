//! What the agent keeps about sync: the hub's high-water mark, the batches it
//! sends, the transfers the hub delivered, and receiving them.

use super::{Store, stored};
use crate::error::{AgentError, Result};
use chrono::{DateTime, FixedOffset};
use jxc_shared::movement::DraftInput;
use jxc_shared::protocol::{IncomingTransfer, WireLocation, WireMovement};
use jxc_shared::time::format_time;
use jxc_shared::{
    DomainError, GlobalLocation, LocationId, Movement, MovementDraft, MovementKind, Quantity, Sku,
};
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use serde::Serialize;

/// Most bytes of text one batch carries, well under the hub's body limit.
const BATCH_TEXT_BYTES: usize = 2 * 1024 * 1024;

#[derive(Debug, Clone, Default, Serialize)]
pub struct SyncState {
    pub hub_url: Option<String>,
    pub enrolled_at: Option<String>,
    pub hwm: u64,
    pub transfers_cursor: u64,
    pub last_sync_at: Option<String>,
    pub last_attempt_at: Option<String>,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct IncomingRow {
    pub id: String,
    pub from: String,
    pub to_location: String,
    pub sku: String,
    pub lot: String,
    pub qty: Quantity,
    pub received: Quantity,
    pub remaining: Quantity,
    pub unit_cost: String,
    pub sent_at: String,
}

impl Store {
    pub fn sync_state(&self) -> Result<SyncState> {
        Ok(self.conn.query_row(
            "SELECT hub_url, enrolled_at, hwm, transfers_cursor, last_sync_at, last_attempt_at, last_error FROM sync_state",
            [],
            |r| {
                Ok(SyncState {
                    hub_url: r.get(0)?,
                    enrolled_at: r.get(1)?,
                    hwm: r.get::<_, i64>(2)? as u64,
                    transfers_cursor: r.get::<_, i64>(3)? as u64,
                    last_sync_at: r.get(4)?,
                    last_attempt_at: r.get(5)?,
                    last_error: r.get(6)?,
                })
            },
        )?)
    }

    /// Remembers the hub this site enrolled with. A new enrollment starts
    /// from hwm 0: the hub says what it holds on the first round.
    pub fn set_hub(&mut self, url: &str, now: DateTime<FixedOffset>) -> Result<()> {
        self.conn.execute(
            "UPDATE sync_state SET hub_url = ?, enrolled_at = ?, hwm = 0, last_error = NULL",
            params![url, format_time(&now)],
        )?;
        Ok(())
    }

    pub fn last_seq(&self) -> Result<u64> {
        Ok(self
            .conn
            .query_row("SELECT COALESCE(MAX(seq), 0) FROM movement", [], |r| {
                r.get::<_, i64>(0)
            })? as u64)
    }

    /// The next batch: up to `limit` movements from `from_seq`, in the wire
    /// form, cut short before it grows past the byte bound.
    pub fn wire_batch(&self, from_seq: u64, limit: usize) -> Result<Vec<WireMovement>> {
        let site = self.site.id.clone();
        let mut out = Vec::new();
        let mut bytes = 0usize;
        let filter = super::MoveFilter {
            since: from_seq.saturating_sub(1),
            limit: Some(limit as u64),
            ..Default::default()
        };
        self.moves(&filter, |m: Movement| {
            let w = WireMovement::from_movement(&site, &m);
            bytes += 64
                + w.sku.len()
                + w.counterparty.as_ref().map_or(0, String::len)
                + w.reference.as_ref().map_or(0, String::len)
                + w.reason.as_ref().map_or(0, String::len);
            if bytes <= BATCH_TEXT_BYTES || out.is_empty() {
                out.push(w);
            }
            Ok(())
        })?;
        Ok(out)
    }

    pub fn wire_locations(&self) -> Result<Vec<WireLocation>> {
        Ok(self
            .locations()?
            .into_iter()
            .map(|l| WireLocation {
                id: l.id.to_string(),
                name: l.name,
            })
            .collect())
    }

    /// Records one answered round: the hub's hwm and the transfers it delivered.
    pub fn record_sync(
        &mut self,
        hwm: u64,
        incoming: &[IncomingTransfer],
        now: DateTime<FixedOffset>,
    ) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut cursor: i64 =
            tx.query_row("SELECT transfers_cursor FROM sync_state", [], |r| r.get(0))?;
        for t in incoming {
            let from = GlobalLocation::parse("from", &t.from)?;
            let sent_at = t.sent_at()?;
            tx.prepare_cached(
                "INSERT INTO incoming_transfer (id, cursor, from_site, from_location, to_location, sku, lot, qty,
                 unit_cost, sent_at, arrived_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
            )?
            .execute(params![
                t.id,
                t.cursor as i64,
                from.site.as_str(),
                from.location.as_str(),
                t.to_location,
                t.sku,
                t.lot,
                t.qty_micro,
                t.unit_cost,
                format_time(&sent_at),
                format_time(&now),
            ])?;
            cursor = cursor.max(t.cursor as i64);
        }
        let now = format_time(&now);
        tx.execute(
            "UPDATE sync_state SET hwm = ?, transfers_cursor = ?, last_sync_at = ?, last_attempt_at = ?, last_error = NULL",
            params![hwm as i64, cursor, now, now],
        )?;
        tx.commit()?;
        Ok(())
    }

    pub fn record_sync_failure(&mut self, error: &str, now: DateTime<FixedOffset>) -> Result<()> {
        self.conn.execute(
            "UPDATE sync_state SET last_attempt_at = ?, last_error = ?",
            params![format_time(&now), error],
        )?;
        Ok(())
    }

    pub fn incoming_transfers(&self, open_only: bool) -> Result<Vec<IncomingRow>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, from_site || '/' || from_location, to_location, sku, lot, qty, received_qty, unit_cost, sent_at
             FROM incoming_transfer WHERE (?1 = 0 OR received_qty < qty) ORDER BY cursor",
        )?;
        let rows = stmt.query_map([open_only], |r| {
            let qty: i64 = r.get(5)?;
            let received: i64 = r.get(6)?;
            Ok(IncomingRow {
                id: r.get(0)?,
                from: r.get(1)?,
                to_location: r.get(2)?,
                sku: r.get(3)?,
                lot: r.get(4)?,
                qty: Quantity::from_micro(qty),
                received: Quantity::from_micro(received),
                remaining: Quantity::from_micro(qty - received),
                unit_cost: r.get(7)?,
                sent_at: r.get(8)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Receives an incoming transfer, all that remains or `qty` of it, into
    /// the location it was addressed to, at the sender's cost.
    pub fn transfer_receive(
        &mut self,
        id: &str,
        qty: Option<&str>,
        now: DateTime<FixedOffset>,
    ) -> Result<Movement> {
        let row: Option<(String, String, String, String, i64, i64, String)> = self
            .conn
            .query_row(
                "SELECT from_site || '/' || from_location, to_location, sku, lot, qty, received_qty, unit_cost
                 FROM incoming_transfer WHERE id = ?",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)),
            )
            .optional()?;
        let Some((from, to_location, sku, lot, sent, received, unit_cost)) = row else {
            return Err(AgentError::Invalid(DomainError::new(
                "transfer",
                id,
                "no such incoming transfer (see `transfer list --incoming`; run `sync` to fetch new ones)",
            )));
        };
        let remaining = Quantity::from_micro(sent - received);
        if remaining.is_zero() || remaining.is_negative() {
            return Err(AgentError::Conflict(format!(
                "transfer {id} has been received in full"
            )));
        }
        let location = stored(0, LocationId::parse(&to_location)).map_err(AgentError::from)?;
        self.require_location(&location)?;
        let product = self.require_product(&Sku::parse(&sku)?)?;
        let qty_text = qty
            .map(str::to_owned)
            .unwrap_or_else(|| remaining.to_string());
        let input = DraftInput {
            lot: Some(&lot),
            unit_cost: Some(&unit_cost),
            counterparty: Some(&from),
            ..Default::default()
        };
        let mut draft = MovementDraft::build(
            MovementKind::TransferIn,
            location,
            &product,
            &qty_text,
            &input,
            now,
        )?;
        if draft.qty > remaining {
            return Err(AgentError::Refused(DomainError::new(
                "qty",
                qty_text,
                format!("only {remaining} of transfer {id} remains in transit"),
            )));
        }
        draft.transfer_id = Some(id.to_owned());
        let mut ledger = self.ledger(now)?;
        let m = ledger.apply(draft)?;
        ledger.conn().execute(
            "UPDATE incoming_transfer SET received_qty = received_qty + ? WHERE id = ?",
            params![m.draft.qty.to_micro(), id],
        )?;
        ledger.commit()?;
        Ok(m)
    }
}
