//! Ingest of one sync batch: gapless, idempotent, per-record authorization.
//!
//! The hub accepts a site's movements only as `hwm + 1, hwm + 2, …`. A record
//! it has already seen is compared by digest: the same content is a harmless
//! replay, different content is a conflict that is quarantined and raised as
//! an alarm (the first version stays). A record that fails validation or
//! authorization is quarantined and the hwm moves past it, so one bad record
//! never blocks the queue behind it. All of a batch commits in one transaction.

use super::{Store, now_text};
use crate::error::Result;
use chrono::{DateTime, Utc};
use jxc_shared::protocol::{
    IncomingTransfer, Quarantined, SyncRequest, SyncResponse, WireMovement,
};
use jxc_shared::share::{check_shared, withheld};
use jxc_shared::time::format_time;
use jxc_shared::{GlobalLocation, Money, Movement, MovementKind, Quantity, SiteId};
use rusqlite::{OptionalExtension, Transaction, TransactionBehavior, params};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// Movements written per INSERT statement: one statement per row spends
/// most of its time in statement overhead rather than in the B-tree.
const INSERT_CHUNK: usize = 64;
const MOVEMENT_COLUMNS: usize = 16;

/// What a batch accumulates before it is written back.
struct Batch {
    caches: Caches,
    next_cursor: i64,
    pending: Vec<MovementRow>,
}

/// One movement row waiting to be written with others.
struct MovementRow {
    seq: i64,
    kind: &'static str,
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
    occurred_at: String,
    recorded_at: String,
    digest: Vec<u8>,
    /// qty × unit cost in millionths of the currency: what this movement
    /// adds to the value of the stock (not a column of `movement`).
    value_micro: i64,
}

fn insert_sql(rows: usize) -> String {
    let one = format!("({})", vec!["?"; MOVEMENT_COLUMNS].join(", "));
    format!(
        "INSERT INTO movement (site, seq, kind, location, sku, lot, qty, unit_cost, unit_price, counterparty,
         ref, reason, transfer_id, occurred_at, recorded_at, digest) VALUES {}",
        vec![one; rows].join(", ")
    )
}

/// Writes and empties `rows`, many per statement.
fn insert_movements(tx: &Transaction<'_>, site: &str, rows: &mut Vec<MovementRow>) -> Result<()> {
    for chunk in rows.chunks(INSERT_CHUNK) {
        // Full chunks, the common case, reuse one statement text built once.
        let mut stmt = if chunk.len() == INSERT_CHUNK {
            static FULL: std::sync::LazyLock<String> =
                std::sync::LazyLock::new(|| insert_sql(INSERT_CHUNK));
            tx.prepare_cached(&FULL)?
        } else {
            tx.prepare_cached(&insert_sql(chunk.len()))?
        };
        let mut values: Vec<&dyn rusqlite::ToSql> =
            Vec::with_capacity(chunk.len() * MOVEMENT_COLUMNS);
        for r in chunk {
            values.extend_from_slice(&[
                &site as &dyn rusqlite::ToSql,
                &r.seq,
                &r.kind,
                &r.location,
                &r.sku,
                &r.lot,
                &r.qty,
                &r.unit_cost,
                &r.unit_price,
                &r.counterparty,
                &r.reference,
                &r.reason,
                &r.transfer_id,
                &r.occurred_at,
                &r.recorded_at,
                &r.digest,
            ]);
        }
        stmt.execute(rusqlite::params_from_iter(values))?;
    }
    rows.clear();
    Ok(())
}

/// Most incoming transfers returned in one response.
const INCOMING_LIMIT: usize = 500;

/// What one batch did, for metrics and logs.
#[derive(Debug, Default, Clone, Copy)]
pub struct IngestStats {
    pub accepted: u64,
    pub duplicates: u64,
    pub refused: u64,
    pub conflicts: u64,
}

fn digest(m: &WireMovement) -> Vec<u8> {
    let bytes = postcard::to_stdvec(m).expect("wire movements always serialize");
    Sha256::digest(bytes).to_vec()
}

type BalKey = (String, String, String);

/// On hand and its value at one (location, sku, lot).
#[derive(Debug, Clone, Copy, Default)]
struct Holding {
    qty: i64,
    /// Σ qty × unit cost, in millionths of the currency.
    value: i64,
}

/// The batch's view of the balances it touches, written back once at the end.
#[derive(Default)]
struct Caches {
    balances: HashMap<BalKey, Holding>,
}

impl Caches {
    fn balance(&mut self, tx: &Transaction<'_>, site: &str, key: &BalKey) -> Result<Holding> {
        if let Some(v) = self.balances.get(key) {
            return Ok(*v);
        }
        let v = tx
            .prepare_cached(
                "SELECT qty, value FROM balance WHERE site = ? AND location = ? AND sku = ? AND lot = ?",
            )?
            .query_row(params![site, key.0, key.1, key.2], |r| {
                Ok(Holding { qty: r.get(0)?, value: r.get(1)? })
            })
            .optional()?
            .unwrap_or_default();
        self.balances.insert(key.clone(), v);
        Ok(v)
    }

    fn flush(self, tx: &Transaction<'_>, site: &str) -> Result<()> {
        let mut bal = tx.prepare_cached(
            "INSERT INTO balance (site, location, sku, lot, qty, value) VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (site, location, sku, lot) DO UPDATE SET qty = excluded.qty, value = excluded.value",
        )?;
        for ((loc, sku, lot), h) in &self.balances {
            bal.execute(params![site, loc, sku, lot, h.qty, h.value])?;
        }
        Ok(())
    }
}

/// One record checked before the writer is taken: its digest, and either the
/// validated movement with its row, or why it is refused.
struct PreparedRecord {
    digest: Vec<u8>,
    checked: std::result::Result<(Movement, MovementRow), String>,
}

/// A sync request with all the work that needs no database already done
/// (decoding fields, validation, digests, row text), so it can run on another
/// core while the single writer applies the previous batch.
pub struct PreparedBatch {
    req: SyncRequest,
    records: Vec<PreparedRecord>,
}

/// Checks every record of a request from `site`. Pure: no database.
pub fn prepare(site: &SiteId, req: SyncRequest) -> PreparedBatch {
    let records = req
        .movements
        .iter()
        .map(|w| {
            let digest = digest(w);
            let checked = w.validate(site).map_err(|e| e.to_string()).and_then(|m| {
                let row = movement_row(w, &m, &digest)?;
                Ok((m, row))
            });
            PreparedRecord { digest, checked }
        })
        .collect();
    PreparedBatch { req, records }
}

/// The catalog category of an SKU, `None` if HQ's catalog lacks it.
fn catalog_category(tx: &Transaction<'_>, sku: &str) -> Result<Option<String>> {
    Ok(tx
        .prepare_cached("SELECT category FROM product WHERE sku = ?")?
        .query_row([sku], |r| r.get(0))
        .optional()?)
}

fn movement_row(
    w: &WireMovement,
    m: &Movement,
    digest: &[u8],
) -> std::result::Result<MovementRow, String> {
    let d = &m.draft;
    Ok(MovementRow {
        seq: m.seq as i64,
        kind: d.kind.as_str(),
        location: d.location.to_string(),
        sku: d.sku.to_string(),
        lot: d.lot.as_ref().map(|l| l.to_string()).unwrap_or_default(),
        qty: w.qty_micro,
        unit_cost: m.unit_cost.to_string(),
        unit_price: d.unit_price.map(|p| p.to_string()),
        counterparty: d.counterparty.clone(),
        reference: d.reference.clone(),
        reason: d.reason.clone(),
        transfer_id: d.transfer_id.clone(),
        occurred_at: format_time(&d.occurred_at),
        recorded_at: format_time(&m.recorded_at),
        digest: digest.to_vec(),
        value_micro: value_micro(m).ok_or_else(|| {
            format!(
                "qty {} × unit_cost {} is too large to value",
                m.draft.qty, m.unit_cost
            )
        })?,
    })
}

/// Under moving-average costing, stock value is the sum over movements of
/// qty × the unit cost each was valued at (outgoing stock carries the average
/// it left at), so the hub keeps that sum instead of replaying averages.
fn value_micro(m: &Movement) -> Option<i64> {
    let v = Money::total(m.draft.qty, m.unit_cost)
        .checked_mul(rust_decimal::Decimal::from(1_000_000))?;
    i64::try_from(v.trunc()).ok()
}

impl Store {
    /// Applies one sync request from `site` (already authenticated).
    pub fn ingest(
        &mut self,
        site: &SiteId,
        req: &SyncRequest,
        now: DateTime<Utc>,
    ) -> Result<(SyncResponse, IngestStats)> {
        self.ingest_prepared(site, prepare(site, req.clone()), now)
    }

    /// Applies a request already checked by [`prepare`], in one transaction.
    pub fn ingest_prepared(
        &mut self,
        site: &SiteId,
        batch: PreparedBatch,
        now: DateTime<Utc>,
    ) -> Result<(SyncResponse, IngestStats)> {
        let PreparedBatch { req, records } = batch;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let s = site.as_str();
        let mut hwm = tx.query_row("SELECT hwm FROM site WHERE id = ?", [s], |r| {
            r.get::<_, i64>(0)
        })? as u64;
        for l in &req.locations {
            tx.prepare_cached(
                "INSERT INTO site_location (site, id, name) VALUES (?, ?, ?)
                 ON CONFLICT (site, id) DO UPDATE SET name = excluded.name",
            )?
            .execute(params![s, l.id, l.name])?;
        }

        let mut stats = IngestStats::default();
        let mut quarantined = Vec::new();
        let mut state = Batch {
            caches: Caches::default(),
            next_cursor: tx.query_row(
                "SELECT COALESCE(MAX(cursor), 0) + 1 FROM transfer",
                [],
                |r| r.get(0),
            )?,
            pending: Vec::with_capacity(INSERT_CHUNK),
        };
        let mut newest: Option<DateTime<Utc>> = None;
        // A dealer's records are checked against its sharing policy in force.
        let policy = super::docs::dealer_policy(&tx, site)?;
        // A batch that starts beyond hwm + 1 would leave a gap: apply none of
        // it. The agent resends from the hwm in the answer.
        if req.from_seq <= hwm + 1 {
            for (w, rec) in req.movements.iter().zip(records) {
                let d = rec.digest;
                if w.seq <= hwm {
                    if held_digest(&tx, s, w.seq)?.as_deref() == Some(&d[..]) {
                        stats.duplicates += 1;
                    } else {
                        let reason = format!(
                            "conflict: seq {} was received before with different content; the first version is kept",
                            w.seq
                        );
                        tracing::error!(site = s, seq = w.seq, "{reason}");
                        quarantine(&tx, s, w, "conflict", &reason, &d, now)?;
                        quarantined.push(Quarantined { seq: w.seq, reason });
                        stats.conflicts += 1;
                    }
                    continue;
                }
                let category = match &policy {
                    Some(_) => Some(catalog_category(&tx, &w.sku)?),
                    None => None,
                };
                match rec.checked.and_then(|(m, row)| {
                    let role = check_transfer(&tx, site, &m)?;
                    if let (Some(p), Some(c)) = (&policy, &category) {
                        check_shared(p, site, c.as_deref(), w)?;
                    }
                    Ok((m, row, role))
                }) {
                    Ok((m, row, role)) => {
                        apply(&tx, site, w, &m, row, role, &mut state)?;
                        let t = m.draft.occurred_at.with_timezone(&Utc);
                        newest = Some(newest.map_or(t, |n| n.max(t)));
                        stats.accepted += 1;
                    }
                    Err(reason) => {
                        // A dealer's record is kept without what its policy withholds.
                        let kept = policy.as_ref().map(|p| withheld(p, w));
                        let w = kept.as_ref().unwrap_or(w);
                        tracing::warn!(site = s, seq = w.seq, %reason, "record quarantined");
                        quarantine(&tx, s, w, "refused", &reason, &d, now)?;
                        quarantined.push(Quarantined { seq: w.seq, reason });
                        stats.refused += 1;
                    }
                }
                hwm = w.seq;
            }
        }
        insert_movements(&tx, s, &mut state.pending)?;
        state.caches.flush(&tx, s)?;
        tx.execute(
            "UPDATE site SET hwm = ?2, agent_last_seq = ?3, last_sync_at = ?4, clock_skew_ms = ?5,
                 newest_business_at = CASE WHEN ?6 IS NOT NULL AND (newest_business_at IS NULL OR ?6 > newest_business_at)
                                           THEN ?6 ELSE newest_business_at END
             WHERE id = ?1",
            params![
                s,
                hwm as i64,
                req.agent_last_seq as i64,
                now_text(now),
                // Saturating: the agent's clock is whatever it sends.
                req.agent_time_ms.saturating_sub(now.timestamp_millis()),
                newest.map(now_text)
            ],
        )?;
        let incoming = incoming(&tx, s, req.transfers_cursor)?;
        tx.commit()?;
        Ok((
            SyncResponse {
                hwm,
                accepted: stats.accepted as u32,
                duplicates: stats.duplicates as u32,
                quarantined,
                incoming,
                hub_time_ms: now.timestamp_millis(),
            },
            stats,
        ))
    }
}

fn held_digest(tx: &Transaction<'_>, site: &str, seq: u64) -> Result<Option<Vec<u8>>> {
    let held: Option<Vec<u8>> = tx
        .prepare_cached("SELECT digest FROM movement WHERE site = ? AND seq = ?")?
        .query_row(params![site, seq as i64], |r| r.get(0))
        .optional()?;
    if held.is_some() {
        return Ok(held);
    }
    // A record quarantined as refused holds its seq too; replaying it is harmless.
    Ok(tx
        .prepare_cached("SELECT digest FROM quarantine WHERE site = ? AND seq = ? AND kind = 'refused' ORDER BY id LIMIT 1")?
        .query_row(params![site, seq as i64], |r| r.get(0))
        .optional()?)
}

/// Transfers must name a real counterpart: a transfer-out a destination, a
/// transfer-in one that was addressed to this site.
fn check_transfer(
    tx: &Transaction<'_>,
    site: &SiteId,
    m: &Movement,
) -> std::result::Result<Option<TransferInRole>, String> {
    let d = &m.draft;
    let id = || {
        d.transfer_id
            .clone()
            .ok_or_else(|| format!("a {} needs a transfer id", d.kind.as_str()))
    };
    match d.kind {
        MovementKind::TransferOut => {
            id()?;
            let to = d.counterparty.as_deref().unwrap_or("");
            GlobalLocation::parse("counterparty", to).map_err(|e| e.to_string())?;
            Ok(None)
        }
        MovementKind::TransferIn => {
            let id = id()?;
            transfer_in_role(tx, site, m, &id).map(Some)
        }
        _ => Ok(None),
    }
}

/// What a transfer-in does to the transfer it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TransferInRole {
    /// The receiver took goods in.
    Receipt,
    /// The sender cancelled: the goods came back to the location they left.
    Return,
    /// A transfer between two locations of one site, which never crosses the hub.
    WithinSite,
}

/// Decides whether a transfer-in from `site` is a receipt, the sender's
/// cancellation or a local transfer, and refuses one that names no transfer
/// of this site or takes more than was sent. A receipt and a return are each
/// bounded by what was sent, not by each other: the two sides may both act
/// offline, and each owner's ledger must reach the hub as it is (the transfer
/// then shows as disputed).
fn transfer_in_role(
    tx: &Transaction<'_>,
    site: &SiteId,
    m: &Movement,
    id: &str,
) -> std::result::Result<TransferInRole, String> {
    let d = &m.draft;
    let row: Option<(String, String, String, String, i64, i64, i64)> = tx
        .prepare_cached(
            "SELECT from_site, from_location, to_site, to_location, qty, received_qty, returned_qty
             FROM transfer WHERE id = ?",
        )
        .and_then(|mut st| {
            st.query_row([id], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            })
            .optional()
        })
        .map_err(|e| e.to_string())?;
    let Some((from_site, from_loc, to_site, to_loc, qty, received, returned)) = row else {
        if id.starts_with(&format!("T-{site}-")) {
            return Ok(TransferInRole::WithinSite);
        }
        return Err(format!("transfer {id} was never sent to this site"));
    };
    let (role, done) = if to_site == site.as_str() && to_loc == d.location.as_str() {
        (TransferInRole::Receipt, received)
    } else if from_site == site.as_str() && from_loc == d.location.as_str() {
        (TransferInRole::Return, returned)
    } else {
        return Err(format!(
            "transfer {id} was sent to {to_site}/{to_loc}, not to {site}/{} (nor is it its sender's {from_site}/{from_loc})",
            d.location
        ));
    };
    // Checked: the quantity is whatever the agent sent.
    if done
        .checked_add(d.qty.to_micro())
        .is_none_or(|total| total > qty)
    {
        let what = match role {
            TransferInRole::Return => "takes back",
            _ => "receives",
        };
        return Err(format!(
            "{what} {} of transfer {id}, more than the {} that was sent and not yet {}",
            d.qty,
            Quantity::from_micro(qty - done),
            if role == TransferInRole::Return {
                "taken back"
            } else {
                "received"
            },
        ));
    }
    Ok(role)
}

fn apply(
    tx: &Transaction<'_>,
    site: &SiteId,
    w: &WireMovement,
    m: &Movement,
    row: MovementRow,
    role: Option<TransferInRole>,
    batch: &mut Batch,
) -> Result<()> {
    let Batch {
        caches,
        next_cursor,
        pending,
    } = batch;
    let s = site.as_str();
    let d = &m.draft;
    let lot = row.lot.clone();
    let value_micro = row.value_micro;
    pending.push(row);
    if pending.len() == INSERT_CHUNK {
        insert_movements(tx, s, pending)?;
    }

    let bkey = (d.location.to_string(), d.sku.to_string(), lot.clone());
    let held = caches.balance(tx, s, &bkey)?;
    caches.balances.insert(
        bkey,
        Holding {
            qty: held.qty.saturating_add(w.qty_micro),
            value: held.value.saturating_add(value_micro),
        },
    );

    match d.kind {
        MovementKind::TransferOut => {
            let to =
                GlobalLocation::parse("counterparty", d.counterparty.as_deref().unwrap_or(""))?;
            if &to.site != site {
                tx.prepare_cached(
                    "INSERT INTO transfer (id, cursor, from_site, from_location, to_site, to_location, sku, lot, qty,
                     unit_cost, sent_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
                )?
                .execute(params![
                    d.transfer_id,
                    *next_cursor,
                    s,
                    d.location.as_str(),
                    to.site.as_str(),
                    to.location.as_str(),
                    d.sku.as_str(),
                    lot,
                    -w.qty_micro,
                    m.unit_cost.to_string(),
                    format_time(&d.occurred_at),
                ])?;
                *next_cursor += 1;
            }
        }
        MovementKind::TransferIn => {
            let id = d.transfer_id.as_deref().unwrap_or("");
            match role.unwrap_or(TransferInRole::WithinSite) {
                TransferInRole::Receipt => {
                    tx.prepare_cached(
                        "UPDATE transfer SET received_qty = received_qty + ? WHERE id = ?",
                    )?
                    .execute(params![w.qty_micro, id])?;
                }
                // A new cursor delivers the smaller quantity to the receiver
                // again, so its agent stops offering what was taken back.
                TransferInRole::Return => {
                    tx.prepare_cached(
                        "UPDATE transfer SET returned_qty = returned_qty + ?, cursor = ? WHERE id = ?",
                    )?
                    .execute(params![w.qty_micro, *next_cursor, id])?;
                    *next_cursor += 1;
                }
                TransferInRole::WithinSite => {}
            }
        }
        _ => {}
    }
    Ok(())
}

fn quarantine(
    tx: &Transaction<'_>,
    site: &str,
    w: &WireMovement,
    kind: &str,
    reason: &str,
    digest: &[u8],
    now: DateTime<Utc>,
) -> Result<()> {
    let record = serde_json::to_string(w).expect("wire movements always serialize");
    tx.prepare_cached(
        "INSERT INTO quarantine (site, seq, kind, reason, record, digest, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
    )?
    .execute(params![site, w.seq as i64, kind, reason, record, digest, now_text(now)])?;
    Ok(())
}

fn incoming(tx: &Transaction<'_>, site: &str, after: u64) -> Result<Vec<IncomingTransfer>> {
    let mut stmt = tx.prepare_cached(
        "SELECT cursor, id, from_site || '/' || from_location, to_location, sku, lot, qty - returned_qty,
                unit_cost, sent_at
         FROM transfer WHERE to_site = ? AND cursor > ? ORDER BY cursor LIMIT ?",
    )?;
    let rows = stmt.query_map(params![site, after as i64, INCOMING_LIMIT as i64], |r| {
        let sent: String = r.get(8)?;
        let (sent_ms, offset_min) = DateTime::parse_from_rfc3339(&sent)
            .map(|t| {
                (
                    t.timestamp_millis(),
                    (t.offset().local_minus_utc() / 60) as i16,
                )
            })
            .unwrap_or((0, 0));
        Ok(IncomingTransfer {
            cursor: r.get::<_, i64>(0)? as u64,
            id: r.get(1)?,
            from: r.get(2)?,
            to_location: r.get(3)?,
            sku: r.get(4)?,
            lot: r.get(5)?,
            qty_micro: r.get(6)?,
            unit_cost: r.get(7)?,
            sent_ms,
            offset_min,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
