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
    DomainError, LocationId, Money, MovementDraft, MovementKind, Quantity, SiteKind, Sku,
};
use rusqlite::params;
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

/// What `transfer send` asks for, as the user typed it.
pub struct SendRequest<'a> {
    pub from: &'a LocationId,
    pub to: &'a GlobalLocation,
    pub sku: &'a Sku,
    pub qty: &'a str,
    pub lot: Option<&'a str>,
    pub reference: Option<&'a str>,
    pub at: DateTime<FixedOffset>,
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
                    received_qty, status, sent_at
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
}
