//! Customer returns (销售退货): the cost returned goods come back at, and the
//! check that a customer does not return more than it bought here.
//!
//! A return with a stated `--cost` is valued at it. One that names the sale
//! it returns (`--sale SEQ`) is valued at the cost of goods that sale
//! recorded. Otherwise it comes back at the location's moving average, and
//! where the location has no cost history for the item, at the site's
//! average over its other locations, then at the cost of the site's latest
//! sale of the item; never at 0 while anything is known.

use super::{LedgerTx, Store};
use crate::error::{AgentError, Result};
use chrono::{DateTime, FixedOffset};
use jxc_shared::{DomainError, Money, Movement, MovementDraft, MovementKind, Quantity};
use rusqlite::{OptionalExtension, params};

/// A recorded return, and a warning when the customer returned more than
/// this site sold it.
pub struct ReturnOutcome {
    pub movement: Movement,
    /// On hand at its (location, sku, lot) after it.
    pub on_hand: Quantity,
    pub warning: Option<String>,
}

impl Store {
    pub fn customer_return(
        &mut self,
        mut draft: MovementDraft,
        sale: Option<u64>,
        now: DateTime<FixedOffset>,
    ) -> Result<ReturnOutcome> {
        debug_assert_eq!(draft.kind, MovementKind::CustomerReturn);
        let mut ledger = self.ledger(now)?;
        if let Some(seq) = sale {
            let cost = sale_cost(&ledger, seq, &draft)?;
            draft.unit_cost = draft.unit_cost.or(Some(cost));
        } else if draft.unit_cost.is_none() {
            let here = ledger.cost_state(&draft.location, &draft.sku)?;
            if here.avg.decimal().is_zero() {
                draft.unit_cost = fallback_cost(&ledger, &draft)?;
            }
        }
        let warning = over_return(&ledger, &draft)?;
        let movement = ledger.apply(draft)?;
        let d = &movement.draft;
        let on_hand = ledger.on_hand(&d.location, &d.sku, &d.lot)?;
        ledger.commit()?;
        Ok(ReturnOutcome {
            movement,
            on_hand,
            warning,
        })
    }
}

/// The cost of goods sold that sale `seq` recorded, if it is a sale of the
/// same SKU (and, when both name one, to the same customer).
fn sale_cost(ledger: &LedgerTx<'_>, seq: u64, draft: &MovementDraft) -> Result<Money> {
    let row: Option<(String, String, Option<String>, String)> = ledger
        .conn()
        .query_row(
            "SELECT kind, sku, counterparty, unit_cost FROM movement WHERE seq = ?",
            [seq as i64],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    let bad = |why: String| AgentError::Invalid(DomainError::new("sale", seq.to_string(), why));
    let Some((kind, sku, customer, cost)) = row else {
        return Err(bad("no movement of this site has that seq".into()));
    };
    if kind != MovementKind::Sale.as_str() {
        return Err(bad(format!("#{seq} is a {kind}, not a sale")));
    }
    if sku != draft.sku.as_str() {
        return Err(bad(format!("#{seq} sold {sku}, not {}", draft.sku)));
    }
    if let (Some(sold_to), Some(from)) = (customer.as_deref(), draft.counterparty.as_deref())
        && sold_to != from
    {
        return Err(bad(format!("#{seq} was sold to {sold_to}, not to {from}")));
    }
    Money::from_stored(&cost)
        .ok_or_else(|| AgentError::DataDir(format!("movement #{seq} holds unit cost {cost:?}")))
}

/// The site's average for the item over its locations that hold it, else
/// the cost of its latest sale of the item.
fn fallback_cost(ledger: &LedgerTx<'_>, draft: &MovementDraft) -> Result<Option<Money>> {
    let conn = ledger.conn();
    let mut held = Vec::new();
    let mut stmt =
        conn.prepare_cached("SELECT qty, avg_cost FROM item_cost WHERE sku = ? AND qty > 0")?;
    let mut rows = stmt.query([draft.sku.as_str()])?;
    while let Some(r) = rows.next()? {
        let (qty, avg): (i64, String) = (r.get(0)?, r.get(1)?);
        if let Some(avg) = Money::from_stored(&avg) {
            held.push((Quantity::from_micro(qty), avg));
        }
    }
    let qty: rust_decimal::Decimal = held.iter().map(|(q, _)| q.decimal()).sum();
    if !qty.is_zero() {
        let value: rust_decimal::Decimal =
            held.iter().map(|(q, a)| q.decimal() * a.decimal()).sum();
        return Ok(Some(Money::round_unit(value / qty)));
    }
    let last: Option<String> = conn
        .prepare_cached(
            "SELECT unit_cost FROM movement WHERE kind = 'sale' AND sku = ? AND unit_cost != '0'
             ORDER BY seq DESC LIMIT 1",
        )?
        .query_row([draft.sku.as_str()], |r| r.get(0))
        .optional()?;
    Ok(last.as_deref().and_then(Money::from_stored))
}

/// A warning when the customer named returns more of the item than this
/// site has sold it (less what it returned before). This reads the ledger's
/// sales and returns of the item (a scan, ~0.1 s per million movements): an
/// index for it cost bulk imports 30% of their speed, and a return is one
/// command typed at a counter.
fn over_return(ledger: &LedgerTx<'_>, draft: &MovementDraft) -> Result<Option<String>> {
    let Some(customer) = draft.counterparty.as_deref() else {
        return Ok(None);
    };
    let (sold, returned): (i64, i64) = ledger
        .conn()
        .prepare_cached(
            "SELECT COALESCE(-SUM(CASE WHEN kind = 'sale' THEN qty END), 0),
                    COALESCE(SUM(CASE WHEN kind = 'customer_return' THEN qty END), 0)
             FROM movement WHERE counterparty = ? AND sku = ? AND kind IN ('sale', 'customer_return')",
        )?
        .query_row(params![customer, draft.sku.as_str()], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    let now_returned = returned.saturating_add(draft.qty.to_micro());
    Ok((now_returned > sold).then(|| {
        format!(
            "{customer} returns {} of {} here, but this site sold {customer} only {} of it{}",
            draft.qty,
            draft.sku,
            Quantity::from_micro(sold),
            if returned > 0 {
                format!(" and took {} back before", Quantity::from_micro(returned))
            } else {
                String::new()
            }
        )
    }))
}
