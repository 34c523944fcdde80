//! Transfers sent from this site. Within the site both halves are written in
//! one transaction; to another site the transfer stays "sent" (in transit)
//! until that site receives it.

use super::query::money;
use super::{Store, stored};
use crate::error::{AgentError, Result};
use chrono::{DateTime, FixedOffset};
use jxc_shared::ids::GlobalLocation;
use jxc_shared::movement::DraftInput;
use jxc_shared::time::format_time;
use jxc_shared::{
    DomainError, LocationId, Money, Movement, MovementDraft, MovementKind, Quantity, SiteKind, Sku,
};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Transfer {
    pub id: String,
    pub from_location: LocationId,
    pub to: String,
    pub sku: Sku,
    pub lot: Option<String>,
    pub qty: Quantity,
    pub unit_cost: Money,
    pub received_qty: Quantity,
    pub status: String,
    pub sent_at: String,
}

/// A `transfer` row as stored, for `transfer cancel`.
struct Sent {
    from: String,
    to_site: String,
    to_loc: String,
    sku: String,
    lot: String,
    qty: i64,
    unit_cost: String,
    status: String,
    cancelled: Option<i64>,
}

/// What `transfer send` asks for, as the user typed it.
pub struct SendRequest<'a> {
    pub from: &'a LocationId,
    pub to: &'a GlobalLocation,
    pub sku: &'a Sku,
    pub qty: &'a str,
    pub lot: Option<&'a str>,
    pub reference: Option<&'a str>,
    pub at: DateTime<FixedOffset>,
    /// Send even to a site or location the hub's directory does not list.
    pub unlisted: bool,
}

impl Store {
    pub fn transfer_send(
        &mut self,
        req: &SendRequest<'_>,
        now: DateTime<FixedOffset>,
    ) -> Result<Transfer> {
        let product = self.require_product(req.sku)?;
        let local = req.to.site == self.site.id;
        if !local && self.site.kind == SiteKind::Dealer && !self.leaves_as_hq_product(req.sku)? {
            return Err(AgentError::Invalid(DomainError::new(
                "sku",
                req.sku.as_str(),
                "it is this dealer's own item (not in the HQ catalog, not mapped with `sku-map set`), and only HQ products go to other sites: HQ routes transfers",
            )));
        }
        if local {
            self.require_location(&req.to.location)?;
            if &req.to.location == req.from {
                return Err(AgentError::Invalid(DomainError::new(
                    "to",
                    req.to.to_string(),
                    "a transfer must go to a different location than --from",
                )));
            }
        }
        let to = req.to.to_string();
        let input = DraftInput {
            lot: req.lot,
            counterparty: Some(&to),
            reference: req.reference,
            ..Default::default()
        };
        let mut out = MovementDraft::build(
            MovementKind::TransferOut,
            req.from.clone(),
            &product,
            req.qty,
            &input,
            req.at,
        )?;

        let mut ledger = self.ledger(now)?;
        if !local && !req.unlisted {
            super::directory::check_destination(ledger.conn(), req.to)?;
        }
        let id = format!("T-{}-{}", ledger.site(), ledger.next_seq());
        out.transfer_id = Some(id.clone());
        let sent = ledger.apply(out)?;
        let qty = -sent.draft.qty;
        let mut in_seq = None;
        if local {
            let inbound = MovementDraft {
                kind: MovementKind::TransferIn,
                location: req.to.location.clone(),
                qty,
                unit_cost: Some(sent.unit_cost),
                counterparty: Some(format!("{}/{}", ledger.site(), req.from)),
                ..sent.draft.clone()
            };
            in_seq = Some(ledger.apply(inbound)?.seq as i64);
        }
        let lot = sent.draft.lot.as_ref().map(|l| l.to_string());
        let status = if local { "received" } else { "sent" };
        ledger.conn().execute(
            "INSERT INTO transfer (id, from_location, to_site, to_location, sku, lot, qty, unit_cost,
             out_seq, in_seq, received_qty, status, sent_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            params![
                id,
                req.from.as_str(),
                req.to.site.as_str(),
                req.to.location.as_str(),
                req.sku.as_str(),
                lot.as_deref().unwrap_or(""),
                qty.to_micro(),
                sent.unit_cost.to_string(),
                sent.seq as i64,
                in_seq,
                if local { qty.to_micro() } else { 0 },
                status,
                format_time(&req.at),
            ],
        )?;
        ledger.commit()?;
        Ok(Transfer {
            id,
            from_location: req.from.clone(),
            to,
            sku: req.sku.clone(),
            lot,
            qty,
            unit_cost: sent.unit_cost,
            received_qty: if local { qty } else { Quantity::ZERO },
            status: status.to_owned(),
            sent_at: format_time(&req.at),
        })
    }

    pub fn transfers(&self) -> Result<Vec<Transfer>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, from_location, to_site || '/' || to_location, sku, lot, qty, unit_cost,
                    received_qty, CASE WHEN cancel_seq IS NULL THEN status ELSE 'cancelled' END, sent_at
             FROM transfer ORDER BY out_seq",
        )?;
        let rows = stmt.query_map([], |r| {
            let lot: String = r.get(4)?;
            Ok(Transfer {
                id: r.get(0)?,
                from_location: stored(1, LocationId::parse(&r.get::<_, String>(1)?))?,
                to: r.get(2)?,
                sku: stored(3, Sku::parse(&r.get::<_, String>(3)?))?,
                lot: (!lot.is_empty()).then_some(lot),
                qty: Quantity::from_micro(r.get(5)?),
                unit_cost: money(6, &r.get::<_, String>(6)?)?,
                received_qty: Quantity::from_micro(r.get(7)?),
                status: r.get(8)?,
                sent_at: r.get(9)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Cancels a transfer this site sent to another: the goods come back to
    /// the location they left, as a transfer-in of the whole quantity at the
    /// cost they left at, and the hub stops offering the transfer to the
    /// receiver. Offline this site cannot know whether the receiver took any
    /// of it in the meantime; if it did, the hub shows the transfer as
    /// disputed, to be corrected by an adjustment at one side.
    pub fn transfer_cancel(&mut self, id: &str, now: DateTime<FixedOffset>) -> Result<Movement> {
        let row = self
            .conn
            .query_row(
                "SELECT from_location, to_site, to_location, sku, lot, qty, unit_cost, status, cancel_seq
                 FROM transfer WHERE id = ?",
                [id],
                |r| {
                    Ok(Sent {
                        from: r.get(0)?,
                        to_site: r.get(1)?,
                        to_loc: r.get(2)?,
                        sku: r.get(3)?,
                        lot: r.get(4)?,
                        qty: r.get(5)?,
                        unit_cost: r.get(6)?,
                        status: r.get(7)?,
                        cancelled: r.get(8)?,
                    })
                },
            )
            .optional()?;
        let Some(Sent {
            from,
            to_site,
            to_loc,
            sku,
            lot,
            qty,
            unit_cost,
            status,
            cancelled,
        }) = row
        else {
            return Err(AgentError::Invalid(DomainError::new(
                "transfer",
                id,
                "no transfer of that id was sent from this site (see `transfer list`)",
            )));
        };
        if let Some(seq) = cancelled {
            return Err(AgentError::Conflict(format!(
                "transfer {id} was already cancelled (#{seq})"
            )));
        }
        if status == "received" {
            return Err(AgentError::Conflict(format!(
                "transfer {id} went to {to_site}/{to_loc}, a location of this site, and arrived at once: correct it with a transfer back"
            )));
        }
        let location = stored(0, LocationId::parse(&from)).map_err(AgentError::from)?;
        let sku = stored(3, Sku::parse(&sku)).map_err(AgentError::from)?;
        let product = self.require_product(&sku)?;
        let mut ledger = self.ledger(now)?;
        // Checked again inside the write transaction: another process may
        // have cancelled it since.
        let again: Option<i64> =
            ledger
                .conn()
                .query_row("SELECT cancel_seq FROM transfer WHERE id = ?", [id], |r| {
                    r.get(0)
                })?;
        if let Some(seq) = again {
            return Err(AgentError::Conflict(format!(
                "transfer {id} was already cancelled (#{seq})"
            )));
        }
        let qty = Quantity::from_micro(qty).to_string();
        let to = format!("{to_site}/{to_loc}");
        let input = DraftInput {
            lot: Some(&lot),
            unit_cost: Some(&unit_cost),
            counterparty: Some(&to),
            reference: Some("cancelled"),
            ..Default::default()
        };
        let mut back = MovementDraft::build(
            MovementKind::TransferIn,
            location,
            &product,
            &qty,
            &input,
            now,
        )?;
        back.transfer_id = Some(id.to_owned());
        let m = ledger.apply(back)?;
        ledger.conn().execute(
            "UPDATE transfer SET cancel_seq = ? WHERE id = ?",
            params![m.seq as i64, id],
        )?;
        ledger.commit()?;
        Ok(m)
    }
}
