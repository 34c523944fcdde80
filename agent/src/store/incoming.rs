//! Transfers other sites sent here: receiving them, and closing one short
//! when the rest will never arrive.
//!
//! The unit cost a transfer carries is the sender's cost, except from a
//! dealer that withholds costs (the hub's directory says so), whose
//! transfers carry 0. Such a transfer-in must not drag this location's
//! moving average towards 0, so it is valued, in this order, at this
//! location's own average for the SKU (which it then leaves unchanged), at
//! the catalog's dealer price, at the catalog's list price, and only when
//! none is known at the 0 it carries.

use super::{Store, stored};
use crate::error::{AgentError, Result};
use chrono::{DateTime, FixedOffset};
use jxc_shared::movement::DraftInput;
use jxc_shared::{DomainError, LocationId, Movement, MovementDraft, MovementKind, Quantity, Sku};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct IncomingRow {
    pub id: String,
    pub from: String,
    pub to_location: String,
    pub sku: String,
    pub lot: String,
    /// What the sender sent and has not taken back.
    pub qty: Quantity,
    pub received: Quantity,
    pub remaining: Quantity,
    /// Closed by this site as never arriving.
    pub short: Quantity,
    /// "in_transit", "partial", "received", "closed_short", "cancelled" or
    /// "disputed".
    pub status: &'static str,
    pub unit_cost: String,
    pub sent_at: String,
}

/// An incoming transfer as stored.
struct Incoming {
    from_site: String,
    from: String,
    to_location: LocationId,
    sku: Sku,
    lot: String,
    remaining: Quantity,
    unit_cost: String,
}

/// An `incoming_transfer` row as stored.
struct Raw {
    from_site: String,
    from_loc: String,
    to_location: String,
    sku: String,
    lot: String,
    sent: i64,
    received: i64,
    unit_cost: String,
}

fn load(conn: &rusqlite::Connection, id: &str) -> Result<Incoming> {
    let row = conn
        .query_row(
            "SELECT from_site, from_location, to_location, sku, lot, qty, received_qty, unit_cost
             FROM incoming_transfer WHERE id = ?",
            [id],
            |r| {
                Ok(Raw {
                    from_site: r.get(0)?,
                    from_loc: r.get(1)?,
                    to_location: r.get(2)?,
                    sku: r.get(3)?,
                    lot: r.get(4)?,
                    sent: r.get(5)?,
                    received: r.get(6)?,
                    unit_cost: r.get(7)?,
                })
            },
        )
        .optional()?;
    let Some(Raw {
        from_site,
        from_loc,
        to_location,
        sku,
        lot,
        sent,
        received,
        unit_cost,
    }) = row
    else {
        return Err(AgentError::Invalid(DomainError::new(
            "transfer",
            id,
            "no such incoming transfer (see `transfer list --incoming`; run `sync` to fetch new ones)",
        )));
    };
    let remaining = Quantity::from_micro(sent - received);
    if remaining.is_zero() || remaining.is_negative() {
        return Err(AgentError::Conflict(if sent == 0 {
            format!("transfer {id} was cancelled by its sender {from_site}")
        } else {
            format!("transfer {id} has been received in full")
        }));
    }
    Ok(Incoming {
        from: format!("{from_site}/{from_loc}"),
        from_site,
        to_location: stored(2, LocationId::parse(&to_location)).map_err(AgentError::from)?,
        sku: stored(3, Sku::parse(&sku)).map_err(AgentError::from)?,
        lot,
        remaining,
        unit_cost,
    })
}

impl Store {
    pub fn incoming_transfers(&self, open_only: bool) -> Result<Vec<IncomingRow>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, from_site || '/' || from_location, to_location, sku, lot, qty, received_qty, unit_cost,
                    sent_at, short_qty
             FROM incoming_transfer WHERE (?1 = 0 OR received_qty < qty) ORDER BY cursor",
        )?;
        let rows = stmt.query_map([open_only], |r| {
            let qty: i64 = r.get(5)?;
            let received: i64 = r.get(6)?;
            let short: i64 = r.get(9)?;
            Ok(IncomingRow {
                id: r.get(0)?,
                from: r.get(1)?,
                to_location: r.get(2)?,
                sku: r.get(3)?,
                lot: r.get(4)?,
                qty: Quantity::from_micro(qty),
                received: Quantity::from_micro(received - short),
                remaining: Quantity::from_micro((qty - received).max(0)),
                short: Quantity::from_micro(short),
                status: match () {
                    // Received here while its sender took it back: one of
                    // the two must correct it with an adjustment.
                    _ if received > qty => "disputed",
                    _ if qty == 0 => "cancelled",
                    _ if short > 0 => "closed_short",
                    _ if received >= qty => "received",
                    _ if received > 0 => "partial",
                    _ => "in_transit",
                },
                unit_cost: r.get(7)?,
                sent_at: r.get(8)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Receives an incoming transfer, all that remains or `qty` of it, into
    /// the location it was addressed to, at the sender's cost (see the
    /// module's note for a sender that withholds it).
    pub fn transfer_receive(
        &mut self,
        id: &str,
        qty: Option<&str>,
        now: DateTime<FixedOffset>,
    ) -> Result<Movement> {
        let mut ledger = self.ledger(now)?;
        let (t, product, catalog) = load_for_write(&ledger, id)?;
        let unit_cost = receipt_cost(&mut ledger, &t, catalog.as_ref())?;
        let qty_text = qty
            .map(str::to_owned)
            .unwrap_or_else(|| t.remaining.to_string());
        let draft = arrival(&t, id, &product, &qty_text, &unit_cost, now)?;
        if draft.qty > t.remaining {
            return Err(AgentError::Refused(DomainError::new(
                "qty",
                qty_text,
                format!("only {} of transfer {id} remains in transit", t.remaining),
            )));
        }
        let m = ledger.apply(draft)?;
        ledger.conn().execute(
            "UPDATE incoming_transfer SET received_qty = received_qty + ? WHERE id = ?",
            params![m.draft.qty.to_micro(), id],
        )?;
        ledger.commit()?;
        Ok(m)
    }

    /// Closes an incoming transfer short: what remains will never arrive.
    /// Written as two movements in one transaction, a transfer-in of the
    /// shortfall and its scrap ("lost in transit"), so the hub sees the
    /// transfer settled and the loss recorded at this site, and on hand here
    /// does not change. Both are valued at this location's average (the
    /// transfer's cost when it has none), which therefore does not move.
    pub fn transfer_close(
        &mut self,
        id: &str,
        now: DateTime<FixedOffset>,
    ) -> Result<(Movement, Movement)> {
        let mut ledger = self.ledger(now)?;
        let (t, product, catalog) = load_for_write(&ledger, id)?;
        let state = ledger.cost_state(&t.to_location, &t.sku)?;
        let unit_cost = if state.qty.is_zero() || state.qty.is_negative() {
            receipt_cost(&mut ledger, &t, catalog.as_ref())?
        } else {
            state.avg.to_string()
        };
        let short = t.remaining.to_string();
        let reason = format!("transfer {id} closed short: {short} never arrived");
        let arrived = ledger.apply(arrival(&t, id, &product, &short, &unit_cost, now)?)?;
        let lost = MovementDraft::build(
            MovementKind::Scrap,
            t.to_location.clone(),
            &product,
            &short,
            &DraftInput {
                lot: Some(&t.lot),
                reason: Some(&reason),
                ..Default::default()
            },
            now,
        )?;
        let lost = ledger.apply(lost)?;
        ledger.conn().execute(
            "UPDATE incoming_transfer SET received_qty = qty, short_qty = short_qty + ? WHERE id = ?",
            params![t.remaining.to_micro(), id],
        )?;
        ledger.commit()?;
        Ok((arrived, lost))
    }
}

/// An incoming transfer that may still be received, its product and its
/// catalog details, all read in `ledger`'s write transaction (BEGIN
/// IMMEDIATE). So what remains is read and decided under the write lock: a
/// receipt by another process on the same ledger either committed before,
/// and is seen here, or waits until this one commits, and then sees it.
fn load_for_write(
    ledger: &super::LedgerTx<'_>,
    id: &str,
) -> Result<(
    Incoming,
    jxc_shared::Product,
    Option<jxc_shared::docs::CatalogItem>,
)> {
    let t = load(ledger.conn(), id)?;
    if !ledger.has_location(&t.to_location) {
        return Err(AgentError::Invalid(jxc_shared::row::unknown_location(
            &t.to_location,
        )));
    }
    let product = super::require_product(ledger.conn(), &t.sku)?;
    let catalog = super::docs::catalog_item(ledger.conn(), &t.sku)?;
    Ok((t, product, catalog))
}

/// The transfer-in of `qty` of transfer `id` at `unit_cost`.
fn arrival(
    t: &Incoming,
    id: &str,
    product: &jxc_shared::Product,
    qty: &str,
    unit_cost: &str,
    now: DateTime<FixedOffset>,
) -> Result<MovementDraft> {
    let input = DraftInput {
        lot: Some(&t.lot),
        unit_cost: Some(unit_cost),
        counterparty: Some(&t.from),
        ..Default::default()
    };
    let mut draft = MovementDraft::build(
        MovementKind::TransferIn,
        t.to_location.clone(),
        product,
        qty,
        &input,
        now,
    )?;
    draft.transfer_id = Some(id.to_owned());
    Ok(draft)
}

/// The unit cost a transfer-in is valued at (see the module's note).
fn receipt_cost(
    ledger: &mut super::LedgerTx<'_>,
    t: &Incoming,
    catalog: Option<&jxc_shared::docs::CatalogItem>,
) -> Result<String> {
    if super::directory::shares_costs(ledger.conn(), &t.from_site)? != Some(false) {
        return Ok(t.unit_cost.clone());
    }
    let state = ledger.cost_state(&t.to_location, &t.sku)?;
    if state.qty > Quantity::ZERO {
        return Ok(state.avg.to_string());
    }
    let known = catalog.and_then(|c| c.dealer_price.or(c.list_price));
    Ok(known.map_or_else(|| t.unit_cost.clone(), |p| p.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Location, SiteInfo};
    use chrono::Utc;
    use jxc_shared::protocol::IncomingTransfer;
    use jxc_shared::{Product, SiteId, SiteKind};
    use std::path::Path;
    use std::sync::{Arc, Barrier, mpsc};
    use std::time::Duration;

    const BUSY: Duration = Duration::from_secs(30);

    /// A branch ledger in `dir` holding transfer T1: 10 of A sent by SH01.
    fn ledger_with_transfer(dir: &Path) {
        let now = Utc::now().fixed_offset();
        let site = SiteInfo {
            id: SiteId::parse("BJ01").unwrap(),
            kind: SiteKind::Branch,
            name: "北京分公司".into(),
            region: "north".into(),
        };
        let mut store = Store::init(dir, site, BUSY, now).unwrap();
        store
            .add_location(&Location {
                id: LocationId::parse("main").unwrap(),
                name: "Main".into(),
                allow_negative: false,
            })
            .unwrap();
        let p = Product::new("A", "龙井", None, None, None, 0, false).unwrap();
        store.add_product(&p).unwrap();
        let t = IncomingTransfer {
            cursor: 1,
            id: "T1".into(),
            from: "SH01/wh".into(),
            to_location: "main".into(),
            sku: "A".into(),
            lot: String::new(),
            qty_micro: 10_000_000,
            unit_cost: "2".into(),
            sent_ms: now.timestamp_millis(),
            offset_min: 0,
        };
        store.record_sync(0, &[t], now).unwrap();
    }

    fn received(store: &Store) -> (Quantity, u64) {
        let row = store
            .incoming_transfers(false)
            .unwrap()
            .into_iter()
            .find(|r| r.id == "T1")
            .unwrap();
        let arrivals: i64 = store
            .conn
            .query_row(
                "SELECT COUNT(*) FROM movement WHERE transfer_id = 'T1'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        (row.received, arrivals as u64)
    }

    /// Two processes' worth of handles on one ledger, each receiving the
    /// same quantity at once: exactly one receipt is written, and the other
    /// is refused with what remains.
    #[test]
    fn concurrent_receipts_of_one_transfer_never_take_more_than_was_sent() {
        for (each, refusal) in [
            ("10", "transfer T1 has been received in full"),
            ("6", "only 4 of transfer T1 remains in transit"),
        ] {
            let dir = tempfile::tempdir().unwrap();
            ledger_with_transfer(dir.path());
            let start = Arc::new(Barrier::new(2));
            let threads: Vec<_> = (0..2)
                .map(|_| {
                    let mut store = Store::open(dir.path(), BUSY).unwrap();
                    let start = Arc::clone(&start);
                    std::thread::spawn(move || {
                        start.wait();
                        store
                            .transfer_receive("T1", Some(each), Utc::now().fixed_offset())
                            .map(|m| m.draft.qty)
                    })
                })
                .collect();
            let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
            let (ok, refused): (Vec<_>, Vec<_>) = results.into_iter().partition(|r| r.is_ok());
            assert_eq!(ok.len(), 1, "exactly one receipt of {each}: {refused:?}");
            let err = refused.into_iter().next().unwrap().unwrap_err();
            assert!(err.to_string().contains(refusal), "{err}");
            let store = Store::open(dir.path(), BUSY).unwrap();
            let want = Quantity::from_micro(each.parse::<i64>().unwrap() * 1_000_000);
            assert_eq!(received(&store), (want, 1));
            assert!(store.verify().unwrap().differences.is_empty());
        }
    }

    /// The remaining quantity is read once the write lock is held: a receipt
    /// that another handle commits while this one waits for the lock is
    /// seen, though it was not committed when this one started.
    #[test]
    fn a_receipt_decides_on_what_remains_once_it_holds_the_write_lock() {
        let dir = tempfile::tempdir().unwrap();
        ledger_with_transfer(dir.path());
        let mut other = Store::open(dir.path(), BUSY).unwrap();
        let mut store = Store::open(dir.path(), BUSY).unwrap();
        let (waiting, blocked) = mpsc::channel();
        store
            .conn
            .busy_handler(Some(move |tries: i32| {
                if tries == 0 {
                    let _ = waiting.send(());
                }
                std::thread::sleep(Duration::from_millis(1));
                tries < 30_000
            }))
            .unwrap();

        // The other handle takes the write lock and receives all 10, but
        // has not committed yet.
        let now = Utc::now().fixed_offset();
        let mut tx = other.ledger(now).unwrap();
        let (t, product, _) = load_for_write(&tx, "T1").unwrap();
        let m = tx
            .apply(arrival(&t, "T1", &product, "10", "2", now).unwrap())
            .unwrap();
        tx.conn()
            .execute(
                "UPDATE incoming_transfer SET received_qty = received_qty + ? WHERE id = 'T1'",
                [m.draft.qty.to_micro()],
            )
            .unwrap();

        let receipt = std::thread::spawn(move || {
            let result = store.transfer_receive("T1", Some("10"), Utc::now().fixed_offset());
            (store, result)
        });
        // Committed only once the receipt is waiting for the lock.
        blocked.recv().unwrap();
        tx.commit().unwrap();
        let (store, result) = receipt.join().unwrap();
        let err = result.unwrap_err();
        assert!(matches!(err, AgentError::Conflict(_)), "{err}");
        assert!(err.to_string().contains("received in full"), "{err}");
        assert_eq!(received(&store), (Quantity::from_micro(10_000_000), 1));
    }
}
