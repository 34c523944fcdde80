//! What the agent keeps about sync: the hub's high-water mark, the batches it
//! sends and the transfers the hub delivered (received in `incoming.rs`).

use super::Store;
use crate::error::Result;
use chrono::{DateTime, FixedOffset};
use jxc_shared::protocol::{IncomingTransfer, WireLocation, WireMovement};
use jxc_shared::time::format_time;
use jxc_shared::{GlobalLocation, Movement};
use rusqlite::{TransactionBehavior, params};
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
        // A transfer delivered again carries what the sender has not taken
        // back (`transfer cancel`): the quantity this site may still receive.
        for t in incoming {
            let from = GlobalLocation::parse("from", &t.from)?;
            let sent_at = t.sent_at()?;
            tx.prepare_cached(
                "INSERT INTO incoming_transfer (id, cursor, from_site, from_location, to_location, sku, lot, qty,
                 unit_cost, sent_at, arrived_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (id) DO UPDATE SET qty = excluded.qty, cursor = excluded.cursor",
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
}
