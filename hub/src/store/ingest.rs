//! Ingest of one sync batch: gapless, idempotent, per-record authorization.
//!
//! The hub accepts a site's movements only as `hwm + 1, hwm + 2, …`. A record
//! it has already seen is compared by digest: the same content is a harmless
//! replay, different content is a conflict that is quarantined and raised as
//! an alarm (the first version stays). A record that fails validation or
//! authorization is quarantined and the hwm moves past it, so one bad record
//! never blocks the queue behind it. All of a batch commits in one transaction.

use super::db::{Sql, Value, vals};
use super::{Store, now_text, sales};
use crate::error::{HubError, Result};
use chrono::{DateTime, NaiveDate, Utc};
use jxc_shared::docs::SharePolicy;
use jxc_shared::protocol::{
    IncomingTransfer, Quarantined, SyncRequest, SyncResponse, WireMovement,
};
use jxc_shared::share::{check_shared, withheld};
use jxc_shared::time::format_time;
use jxc_shared::{GlobalLocation, Movement, MovementKind, Quantity, SiteId};
use rustc_hash::FxHashMap;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;

/// Values bound per `IN (…)` list when the batch's rows are read.
const IN_CHUNK: usize = 500;

const MOVEMENT_COLUMNS: [&str; 16] = [
    "site",
    "seq",
    "kind",
    "location",
    "sku",
    "lot",
    "qty",
    "unit_cost",
    "unit_price",
    "counterparty",
    "ref",
    "reason",
    "transfer_id",
    "occurred_at",
    "recorded_at",
    "digest",
];

/// One movement row waiting to be written with others.
struct MovementRow {
    seq: i64,
    kind: MovementKind,
    /// The business day: the local date in the movement's own offset.
    day: NaiveDate,
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
    /// A sale's or return's qty × price, in millionths, when it has a price.
    revenue_micro: Option<i64>,
}

impl MovementRow {
    fn values(self, site: &str) -> Vec<Value> {
        vec![
            Value::Text(site.to_owned()),
            Value::Int(self.seq),
            Value::Text(self.kind.as_str().to_owned()),
            Value::Text(self.location),
            Value::Text(self.sku),
            Value::Text(self.lot),
            Value::Int(self.qty),
            Value::Text(self.unit_cost),
            self.unit_price.map_or(Value::Null, Value::Text),
            self.counterparty.map_or(Value::Null, Value::Text),
            self.reference.map_or(Value::Null, Value::Text),
            self.reason.map_or(Value::Null, Value::Text),
            self.transfer_id.map_or(Value::Null, Value::Text),
            Value::Text(self.occurred_at),
            Value::Text(self.recorded_at),
            Value::Blob(self.digest),
        ]
    }
}

/// Most incoming transfers returned in one response.
const INCOMING_LIMIT: usize = 500;

/// What one batch did, for metrics, logs and alerts.
#[derive(Debug, Default, Clone)]
pub struct IngestStats {
    pub accepted: u64,
    pub duplicates: u64,
    pub refused: u64,
    pub conflicts: u64,
    /// The (site, location, sku) lines whose on hand or in transit the
    /// batch changed: its own, and those its transfers are on their way to.
    /// Sorted, each once. Alerts are evaluated on these only.
    pub touched: Vec<(String, String, String)>,
}

fn digest(m: &WireMovement) -> Vec<u8> {
    let bytes = postcard::to_stdvec(m).expect("wire movements always serialize");
    Sha256::digest(bytes).to_vec()
}

type BalKey = (String, String, String);

/// On hand and its value at one (location, sku, lot).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Holding {
    qty: i64,
    /// Σ qty × unit cost, in millionths of the currency.
    value: i64,
}

/// One record checked before the writer is taken: its digest, and either the
/// validated movement with its row, or why it is refused.
struct PreparedRecord {
    digest: Vec<u8>,
    checked: std::result::Result<(Movement, MovementRow), String>,
}

/// A sync request with all the work that needs no database already done
/// (decoding fields, validation, digests, row text), so it can run on another
/// core while the writer applies the previous batch.
pub struct PreparedBatch {
    req: SyncRequest,
    records: Vec<PreparedRecord>,
    /// The `sales_day` rows of the valid records' sales and returns, summed:
    /// what the batch adds there when the writer applies all of them (the
    /// usual case), built here instead of in the writer.
    lines: Vec<Vec<Value>>,
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
        .collect::<Vec<_>>();
    let valid = records.iter().filter_map(|r| r.checked.as_ref().ok());
    let lines = sales::line_rows(site.as_str(), sale_lines(valid.map(|(_, row)| row)));
    PreparedBatch {
        req,
        records,
        lines,
    }
}

/// The sales and customer returns among `rows`, as the per-line aggregate
/// takes them.
fn sale_lines<'a>(
    rows: impl Iterator<Item = &'a MovementRow>,
) -> impl Iterator<Item = sales::SaleLine<'a>> {
    rows.filter_map(|r| {
        let flow = sales::flow_of(r.kind, r.qty, r.value_micro, r.revenue_micro, false)?;
        Some(sales::SaleLine {
            location: &r.location,
            sku: &r.sku,
            day: r.day,
            customer: r.counterparty.as_deref().unwrap_or_default(),
            flow,
        })
    })
}

fn movement_row(
    w: &WireMovement,
    m: &Movement,
    digest: &[u8],
) -> std::result::Result<MovementRow, String> {
    let d = &m.draft;
    Ok(MovementRow {
        seq: m.seq as i64,
        kind: d.kind,
        day: d.occurred_at.date_naive(),
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
        revenue_micro: match d.unit_price {
            Some(p) if d.kind.accepts_price() => {
                Some(sales::revenue_micro(w.qty_micro, p).ok_or_else(|| {
                    format!("qty {} × unit_price {p} is too large to total", m.draft.qty)
                })?)
            }
            _ => None,
        },
    })
}

/// Under moving-average costing, stock value is the sum over movements of
/// qty × the unit cost each was valued at (outgoing stock carries the average
/// it left at), so the hub keeps that sum instead of replaying averages.
fn value_micro(m: &Movement) -> Option<i64> {
    sales::total_micro(m.draft.qty.to_micro(), m.unit_cost)
}

/// A transfer as the hub holds it, for the checks of a transfer-in.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TransferView {
    from_site: String,
    from_location: String,
    to_site: String,
    to_location: String,
    qty: i64,
    received: i64,
    returned: i64,
}

/// What the store holds that a batch's decisions rest on, read (and on
/// PostgreSQL locked) before they are made.
#[derive(Debug, Default)]
struct BatchView {
    hwm: u64,
    /// Digests held for the batch's seqs at or below the hwm: the movement,
    /// or the first refused record of that seq.
    held: FxHashMap<u64, Vec<u8>>,
    /// The transfers the batch's transfer records name.
    transfers: FxHashMap<String, TransferView>,
    /// The sharing policy in force, for a dealer.
    policy: Option<SharePolicy>,
    /// Catalog categories of the batch's SKUs (a dealer's batch only);
    /// absent: not in HQ's catalog.
    categories: FxHashMap<String, String>,
    balances: FxHashMap<BalKey, Holding>,
}

/// A transfer the batch creates.
#[derive(Debug)]
struct NewTransfer {
    id: String,
    from_location: String,
    to_site: String,
    to_location: String,
    sku: String,
    lot: String,
    qty: i64,
    unit_cost: String,
    sent_at: String,
}

/// What a batch changes at a transfer, in the order of its records.
#[derive(Debug)]
enum TransferEffect {
    /// A transfer-out to another site: a new transfer (needs a cursor).
    Sent(NewTransfer),
    /// The receiver took this much in.
    Received { id: String, qty: i64 },
    /// The sender took this much back: the transfer gets a new cursor, so
    /// the receiver is told the smaller quantity.
    Returned { id: String, qty: i64 },
}

/// A record kept out of the ledger.
struct QuarantineEntry {
    record: WireMovement,
    kind: &'static str,
    reason: String,
    digest: Vec<u8>,
}

/// What a batch does, decided from the request and the [`BatchView`] alone.
#[derive(Default)]
struct BatchEffects {
    hwm: u64,
    movements: Vec<MovementRow>,
    quarantine: Vec<QuarantineEntry>,
    /// The new on hand and value of every (location, sku, lot) touched.
    balances: FxHashMap<BalKey, Holding>,
    transfers: Vec<TransferEffect>,
    /// The newest business time among the movements applied.
    newest: Option<DateTime<Utc>>,
    /// What the batch adds to the sales flow.
    flow: sales::FlowEffects,
    stats: IngestStats,
    quarantined: Vec<Quarantined>,
    /// Receivers' lines whose in transit a sender's cancellation lowered.
    returned_to: Vec<(String, String, String)>,
}

/// Decides every record of a batch: a replay (duplicate), a second version
/// of a held seq (conflict), refused (quarantined, the hwm moves past it) or
/// applied. Pure: both engines call it with what they read, so they decide
/// alike by construction.
fn decide(
    site: &SiteId,
    req: &SyncRequest,
    records: Vec<PreparedRecord>,
    lines: Vec<Vec<Value>>,
    mut view: BatchView,
) -> BatchEffects {
    let mut fx = BatchEffects {
        hwm: view.hwm,
        ..Default::default()
    };
    let valid = records.iter().filter(|r| r.checked.is_ok()).count() as u64;
    // A batch that starts beyond hwm + 1 would leave a gap: apply none of
    // it. The agent resends from the hwm in the answer.
    if req.from_seq > view.hwm + 1 {
        return fx;
    }
    for (w, rec) in req.movements.iter().zip(records) {
        let d = rec.digest;
        if w.seq <= fx.hwm {
            if view.held.get(&w.seq) == Some(&d) {
                fx.stats.duplicates += 1;
            } else {
                let reason = format!(
                    "conflict: seq {} was received before with different content; the first version is kept",
                    w.seq
                );
                tracing::error!(site = site.as_str(), seq = w.seq, "{reason}");
                fx.quarantined.push(Quarantined {
                    seq: w.seq,
                    reason: reason.clone(),
                });
                fx.quarantine.push(QuarantineEntry {
                    record: w.clone(),
                    kind: "conflict",
                    reason,
                    digest: d,
                });
                fx.stats.conflicts += 1;
            }
            continue;
        }
        let checked = rec.checked.and_then(|(m, row)| {
            let role = check_transfer(&view.transfers, site, &m)?;
            if let Some(p) = &view.policy {
                let category = view.categories.get(&w.sku).map(String::as_str);
                check_shared(p, site, category, w)?;
            }
            Ok((m, row, role))
        });
        match checked {
            Ok((m, row, role)) => {
                apply(site, w, &m, row, role, &mut view, &mut fx);
                let t = m.draft.occurred_at.with_timezone(&Utc);
                fx.newest = Some(fx.newest.map_or(t, |n| n.max(t)));
                fx.stats.accepted += 1;
            }
            Err(reason) => {
                // A dealer's record is kept without what its policy withholds.
                let record = match &view.policy {
                    Some(p) => withheld(p, w),
                    None => w.clone(),
                };
                tracing::warn!(site = site.as_str(), seq = w.seq, %reason, "record quarantined");
                fx.quarantined.push(Quarantined {
                    seq: w.seq,
                    reason: reason.clone(),
                });
                // Its seq is held now: a replay of it is a duplicate.
                view.held.insert(w.seq, d.clone());
                fx.quarantine.push(QuarantineEntry {
                    record,
                    kind: "refused",
                    reason,
                    digest: d,
                });
                fx.stats.refused += 1;
            }
        }
        fx.hwm = w.seq;
    }
    // The lines prepare summed hold every valid record: right when all were
    // applied, else summed again from those that were.
    fx.flow.lines = if fx.stats.accepted == valid {
        lines
    } else {
        sales::line_rows(site.as_str(), sale_lines(fx.movements.iter()))
    };
    fx
}

/// Transfers must name a real counterpart: a transfer-out a destination, a
/// transfer-in one that was addressed to this site.
fn check_transfer(
    transfers: &FxHashMap<String, TransferView>,
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
            transfer_in_role(transfers.get(&id), site, m, &id).map(Some)
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
    held: Option<&TransferView>,
    site: &SiteId,
    m: &Movement,
    id: &str,
) -> std::result::Result<TransferInRole, String> {
    let d = &m.draft;
    let Some(t) = held else {
        if id.starts_with(&format!("T-{site}-")) {
            return Ok(TransferInRole::WithinSite);
        }
        return Err(format!("transfer {id} was never sent to this site"));
    };
    let (role, done) = if t.to_site == site.as_str() && t.to_location == d.location.as_str() {
        (TransferInRole::Receipt, t.received)
    } else if t.from_site == site.as_str() && t.from_location == d.location.as_str() {
        (TransferInRole::Return, t.returned)
    } else {
        return Err(format!(
            "transfer {id} was sent to {}/{}, not to {site}/{} (nor is it its sender's {}/{})",
            t.to_site, t.to_location, d.location, t.from_site, t.from_location
        ));
    };
    // Checked: the quantity is whatever the agent sent.
    if done
        .checked_add(d.qty.to_micro())
        .is_none_or(|total| total > t.qty)
    {
        let what = match role {
            TransferInRole::Return => "takes back",
            _ => "receives",
        };
        return Err(format!(
            "{what} {} of transfer {id}, more than the {} that was sent and not yet {}",
            d.qty,
            Quantity::from_micro(t.qty - done),
            if role == TransferInRole::Return {
                "taken back"
            } else {
                "received"
            },
        ));
    }
    Ok(role)
}

/// Applies one accepted record to the batch's effects and to the view the
/// records after it are decided on.
fn apply(
    site: &SiteId,
    w: &WireMovement,
    m: &Movement,
    row: MovementRow,
    role: Option<TransferInRole>,
    view: &mut BatchView,
    fx: &mut BatchEffects,
) {
    let d = &m.draft;
    let bkey = (d.location.to_string(), d.sku.to_string(), row.lot.clone());
    let held = view.balances.get(&bkey).copied().unwrap_or_default();
    let now = Holding {
        qty: held.qty.saturating_add(w.qty_micro),
        value: held.value.saturating_add(row.value_micro),
    };
    view.balances.insert(bkey.clone(), now);
    fx.balances.insert(bkey, now);
    view.held.insert(w.seq, row.digest.clone());
    if let Some(flow) = sales::flow_of(
        d.kind,
        w.qty_micro,
        row.value_micro,
        row.revenue_micro,
        role == Some(TransferInRole::Receipt),
    ) {
        fx.flow.record_day(row.day, flow);
    }
    let lot = row.lot.clone();
    fx.movements.push(row);

    match d.kind {
        MovementKind::TransferOut => {
            let Ok(to) =
                GlobalLocation::parse("counterparty", d.counterparty.as_deref().unwrap_or(""))
            else {
                return; // check_transfer refused it already
            };
            let id = d.transfer_id.clone().unwrap_or_default();
            // A transfer id the hub holds already is not sent again.
            if &to.site != site && !view.transfers.contains_key(&id) {
                view.transfers.insert(
                    id.clone(),
                    TransferView {
                        from_site: site.to_string(),
                        from_location: d.location.to_string(),
                        to_site: to.site.to_string(),
                        to_location: to.location.to_string(),
                        qty: -w.qty_micro,
                        received: 0,
                        returned: 0,
                    },
                );
                fx.transfers.push(TransferEffect::Sent(NewTransfer {
                    id,
                    from_location: d.location.to_string(),
                    to_site: to.site.to_string(),
                    to_location: to.location.to_string(),
                    sku: d.sku.to_string(),
                    lot,
                    qty: -w.qty_micro,
                    unit_cost: m.unit_cost.to_string(),
                    sent_at: format_time(&d.occurred_at),
                }));
            }
        }
        MovementKind::TransferIn => {
            let id = d.transfer_id.clone().unwrap_or_default();
            let qty = w.qty_micro;
            match role.unwrap_or(TransferInRole::WithinSite) {
                TransferInRole::Receipt => {
                    if let Some(t) = view.transfers.get_mut(&id) {
                        t.received += qty;
                    }
                    fx.transfers.push(TransferEffect::Received { id, qty });
                }
                TransferInRole::Return => {
                    if let Some(t) = view.transfers.get_mut(&id) {
                        t.returned += qty;
                        let to = (t.to_site.clone(), t.to_location.clone(), d.sku.to_string());
                        fx.returned_to.push(to);
                    }
                    fx.transfers.push(TransferEffect::Returned { id, qty });
                }
                TransferInRole::WithinSite => {}
            }
        }
        _ => {}
    }
}

/// `(?, ?, …)` with `n` placeholders.
fn in_list(n: usize) -> String {
    format!("({})", vec!["?"; n].join(", "))
}

/// Reads what the batch's decisions rest on. On PostgreSQL the site's row
/// is locked first, so two hub processes take batches of one site in turn
/// (gapless, exactly once), and the transfers read are locked in id order,
/// so a receiver and a sender acting on one transfer at once wait for each
/// other instead of deciding on the same old counts.
fn read_view(
    sql: &mut Sql<'_>,
    site: &SiteId,
    req: &SyncRequest,
    records: &[PreparedRecord],
) -> Result<BatchView> {
    let s = site.as_str();
    let lock = sql.for_update();
    let row = sql.query_one(
        &format!("SELECT hwm, kind FROM site WHERE id = ?{lock}"),
        vals![s],
    )?;
    let hwm: u64 = row.get(0)?;
    let kind: String = row.get(1)?;
    let mut view = BatchView {
        hwm,
        ..Default::default()
    };

    // Held digests of the seqs this batch repeats.
    let replayed: Vec<u64> = req
        .movements
        .iter()
        .map(|w| w.seq)
        .filter(|&q| q <= hwm)
        .collect();
    if let (Some(lo), Some(hi)) = (replayed.iter().min(), replayed.iter().max()) {
        // A record quarantined as refused holds its seq too; replaying it is harmless.
        for r in sql.query(
            "SELECT seq, digest FROM quarantine WHERE site = ? AND seq BETWEEN ? AND ? AND kind = 'refused'
             ORDER BY id DESC",
            vals![s, *lo as i64, *hi as i64],
        )? {
            view.held.insert(r.get(0)?, r.get(1)?);
        }
        for r in sql.query(
            "SELECT seq, digest FROM movement WHERE site = ? AND seq BETWEEN ? AND ?",
            vals![s, *lo as i64, *hi as i64],
        )? {
            view.held.insert(r.get(0)?, r.get(1)?);
        }
    }

    let valid = || records.iter().filter_map(|r| r.checked.as_ref().ok());
    let ids: BTreeSet<&str> = valid()
        .filter(|(m, _)| {
            matches!(
                m.draft.kind,
                MovementKind::TransferIn | MovementKind::TransferOut
            )
        })
        .filter_map(|(m, _)| m.draft.transfer_id.as_deref())
        .collect();
    let ids: Vec<&str> = ids.into_iter().collect();
    for chunk in ids.chunks(IN_CHUNK) {
        let params: Vec<Value> = chunk.iter().map(|i| Value::Text((*i).to_owned())).collect();
        for r in sql.query(
            &format!(
                "SELECT id, from_site, from_location, to_site, to_location, qty, received_qty, returned_qty
                 FROM transfer WHERE id IN {} ORDER BY id{lock}",
                in_list(chunk.len())
            ),
            &params,
        )? {
            view.transfers.insert(
                r.get(0)?,
                TransferView {
                    from_site: r.get(1)?,
                    from_location: r.get(2)?,
                    to_site: r.get(3)?,
                    to_location: r.get(4)?,
                    qty: r.get(5)?,
                    received: r.get(6)?,
                    returned: r.get(7)?,
                },
            );
        }
    }

    let skus: BTreeSet<&str> = valid().map(|(_, row)| row.sku.as_str()).collect();
    let skus: Vec<&str> = skus.into_iter().collect();
    let wanted: std::collections::HashSet<(&str, &str, &str)> = valid()
        .map(|(_, row)| (row.location.as_str(), row.sku.as_str(), row.lot.as_str()))
        .collect();
    for chunk in skus.chunks(IN_CHUNK) {
        let mut params = vec![Value::Text(s.to_owned())];
        params.extend(chunk.iter().map(|k| Value::Text((*k).to_owned())));
        for r in sql.query(
            &format!(
                "SELECT location, sku, lot, qty, value FROM balance WHERE site = ? AND sku IN {}",
                in_list(chunk.len())
            ),
            &params,
        )? {
            let key: BalKey = (r.get(0)?, r.get(1)?, r.get(2)?);
            if wanted.contains(&(key.0.as_str(), key.1.as_str(), key.2.as_str())) {
                let h = Holding {
                    qty: r.get(3)?,
                    value: r.get(4)?,
                };
                view.balances.insert(key, h);
            }
        }
    }

    // A dealer's records are checked against its sharing policy in force.
    if kind == "dealer" {
        view.policy = Some(policy_in_force(sql, site)?);
        let skus: BTreeSet<&str> = req.movements.iter().map(|w| w.sku.as_str()).collect();
        let skus: Vec<&str> = skus.into_iter().collect();
        for chunk in skus.chunks(IN_CHUNK) {
            let params: Vec<Value> = chunk.iter().map(|k| Value::Text((*k).to_owned())).collect();
            for r in sql.query(
                &format!(
                    "SELECT sku, category FROM product WHERE sku IN {}",
                    in_list(chunk.len())
                ),
                &params,
            )? {
                view.categories.insert(r.get(0)?, r.get(1)?);
            }
        }
    }
    Ok(view)
}

/// A dealer's sharing policy as the `share_policy` table holds it (rebuilt
/// from its document on every change): what it set, or nothing shared until
/// it sets one. No document is loaded.
pub(super) fn policy_in_force(sql: &mut Sql<'_>, site: &SiteId) -> Result<SharePolicy> {
    let json: Option<String> = sql.scalar(
        "SELECT policy FROM share_policy WHERE site = ?",
        vals![site.as_str()],
    )?;
    Ok(match json {
        None => SharePolicy::default(),
        // A policy that does not read back shares nothing, never more.
        Some(j) => serde_json::from_str(&j).unwrap_or_else(|e| {
            tracing::error!(
                site = site.as_str(),
                "stored sharing policy does not read: {e}"
            );
            SharePolicy::default()
        }),
    })
}

/// Writes what [`decide`] decided.
fn write_effects(
    sql: &mut Sql<'_>,
    site: &SiteId,
    req: &SyncRequest,
    fx: BatchEffects,
    now: DateTime<Utc>,
) -> Result<()> {
    let s = site.as_str();
    for l in &req.locations {
        sql.exec(
            "INSERT INTO site_location (site, id, name) VALUES (?, ?, ?)
             ON CONFLICT (site, id) DO UPDATE SET name = excluded.name",
            vals![s, l.id, l.name],
        )?;
    }
    let rows: Vec<Vec<Value>> = fx.movements.into_iter().map(|r| r.values(s)).collect();
    sql.insert_rows("movement", &MOVEMENT_COLUMNS, &rows)?;

    let received = now_text(now);
    let rows: Vec<Vec<Value>> = fx
        .quarantine
        .into_iter()
        .map(|q| {
            vec![
                Value::Text(s.to_owned()),
                Value::Int(q.record.seq as i64),
                Value::Text(q.kind.to_owned()),
                Value::Text(q.reason),
                Value::Text(
                    serde_json::to_string(&q.record).expect("wire movements always serialize"),
                ),
                Value::Blob(q.digest),
                Value::Text(received.clone()),
            ]
        })
        .collect();
    sql.insert_rows(
        "quarantine",
        &[
            "site",
            "seq",
            "kind",
            "reason",
            "record",
            "digest",
            "received_at",
        ],
        &rows,
    )?;

    // In key order, so each statement touches neighbouring pages.
    let mut balances: Vec<(BalKey, Holding)> = fx.balances.into_iter().collect();
    balances.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let rows: Vec<Vec<Value>> = balances
        .into_iter()
        .map(|((loc, sku, lot), h)| {
            vec![
                Value::Text(s.to_owned()),
                Value::Text(loc),
                Value::Text(sku),
                Value::Text(lot),
                Value::Int(h.qty),
                Value::Int(h.value),
            ]
        })
        .collect();
    sql.upsert_rows(
        "balance",
        &["site", "location", "sku", "lot", "qty", "value"],
        &["site", "location", "sku", "lot"],
        &rows,
    )?;

    sales::write_flow(sql, s, fx.flow)?;
    write_transfers(sql, site, fx.transfers)?;

    sql.exec(
        "UPDATE site SET hwm = ?2, agent_last_seq = ?3, last_sync_at = ?4, clock_skew_ms = ?5,
             newest_business_at = CASE WHEN CAST(?6 AS TEXT) IS NOT NULL AND (newest_business_at IS NULL OR ?6 > newest_business_at)
                                       THEN ?6 ELSE newest_business_at END
         WHERE id = ?1",
        vals![
            s,
            fx.hwm as i64,
            req.agent_last_seq as i64,
            now_text(now),
            // Saturating: the agent's clock is whatever it sends.
            req.agent_time_ms.saturating_sub(now.timestamp_millis()),
            fx.newest.map(now_text)
        ],
    )?;
    Ok(())
}

/// Writes the batch's transfer changes. Cursors are taken last, just before
/// the commit, from a counter whose row stays locked until then: receivers
/// read `cursor > theirs`, so a cursor must never become visible after a
/// higher one has.
fn write_transfers(sql: &mut Sql<'_>, site: &SiteId, effects: Vec<TransferEffect>) -> Result<()> {
    let s = site.as_str();
    for e in &effects {
        if let TransferEffect::Received { id, qty } = e {
            sql.exec(
                "UPDATE transfer SET received_qty = received_qty + ? WHERE id = ?",
                vals![*qty, id],
            )?;
        }
    }
    let needing = effects
        .iter()
        .filter(|e| !matches!(e, TransferEffect::Received { .. }))
        .count() as u64;
    if needing == 0 {
        return Ok(());
    }
    let mut cursor = Store::take_numbers(sql, "transfer_cursor", needing)?;
    for e in effects {
        match e {
            TransferEffect::Received { .. } => continue,
            TransferEffect::Sent(t) => {
                sql.exec(
                    "INSERT INTO transfer (id, cursor, from_site, from_location, to_site, to_location, sku, lot, qty,
                     unit_cost, sent_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
                    vals![
                        t.id,
                        cursor,
                        s,
                        t.from_location,
                        t.to_site,
                        t.to_location,
                        t.sku,
                        t.lot,
                        t.qty,
                        t.unit_cost,
                        t.sent_at
                    ],
                )?;
            }
            TransferEffect::Returned { id, qty } => {
                sql.exec(
                    "UPDATE transfer SET returned_qty = returned_qty + ?, cursor = ? WHERE id = ?",
                    vals![qty, cursor, id],
                )?;
            }
        }
        cursor += 1;
    }
    Ok(())
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

    /// Applies a request already checked by [`prepare`], in one transaction:
    /// read what the decisions rest on, decide (pure), write the effects.
    /// A database error aborts the whole batch; nothing of it is kept.
    pub fn ingest_prepared(
        &mut self,
        site: &SiteId,
        batch: PreparedBatch,
        now: DateTime<Utc>,
    ) -> Result<(SyncResponse, IngestStats)> {
        let PreparedBatch {
            req,
            records,
            lines,
        } = batch;
        self.db().write(|sql| {
            let view = read_view(sql, site, &req, &records)?;
            let mut fx = decide(site, &req, records, lines, view);
            let mut stats = std::mem::take(&mut fx.stats);
            stats.touched = touched(site, &fx);
            let hwm = fx.hwm;
            let quarantined = fx.quarantined.clone();
            write_effects(sql, site, &req, fx, now)?;
            let incoming = incoming(sql, site.as_str(), req.transfers_cursor)?;
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
        })
    }
}

/// The lines a batch's effects change: its balances, and the receivers of
/// the transfers it sends or takes back.
fn touched(site: &SiteId, fx: &BatchEffects) -> Vec<(String, String, String)> {
    let mut lines: BTreeSet<(String, String, String)> = fx
        .balances
        .keys()
        .map(|(loc, sku, _)| (site.to_string(), loc.clone(), sku.clone()))
        .collect();
    for t in &fx.transfers {
        if let TransferEffect::Sent(t) = t {
            lines.insert((t.to_site.clone(), t.to_location.clone(), t.sku.clone()));
        }
    }
    lines.extend(fx.returned_to.iter().cloned());
    lines.into_iter().collect()
}

fn incoming(sql: &mut Sql<'_>, site: &str, after: u64) -> Result<Vec<IncomingTransfer>> {
    sql.query(
        "SELECT cursor, id, from_site || '/' || from_location, to_location, sku, lot, qty - returned_qty,
                unit_cost, sent_at
         FROM transfer WHERE to_site = ? AND cursor > ? ORDER BY cursor LIMIT ?",
        vals![site, after as i64, INCOMING_LIMIT as i64],
    )?
    .iter()
    .map(|r| {
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
            cursor: r.get(0)?,
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
    })
    .collect::<Result<_>>()
    .map_err(|e: HubError| e)
}
