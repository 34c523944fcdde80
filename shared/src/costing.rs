//! Moving-average cost per (location, sku).
//!
//! Incoming stock with a stated cost moves the average; incoming stock without
//! one, and all outgoing stock, is valued at the current average. The result
//! is rounded to 6 places at each step, so replaying the ledger in seq order
//! reproduces every stored average exactly.

use crate::{Money, Quantity};
use rust_decimal::Decimal;

/// What the ledger knows about one (location, sku): its total quantity over
/// all lots and the average cost of a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CostState {
    pub qty: Quantity,
    pub avg: Money,
}

/// Applies one movement of `delta` units. Returns the unit cost the movement
/// is valued at and the new state.
pub fn apply(state: CostState, delta: Quantity, stated: Option<Money>) -> (Money, CostState) {
    let new_qty = Quantity::from_decimal(state.qty.decimal() + delta.decimal());
    if !delta.is_negative() {
        let unit = stated.unwrap_or(state.avg);
        let avg = if state.qty.decimal() <= Decimal::ZERO || new_qty.decimal() <= Decimal::ZERO {
            // Nothing (or a deficit) to average with: the new units set the cost.
            unit
        } else {
            let value =
                state.qty.decimal() * state.avg.decimal() + delta.decimal() * unit.decimal();
            Money::round_unit(value / new_qty.decimal())
        };
        (unit, CostState { qty: new_qty, avg })
    } else {
        (
            state.avg,
            CostState {
                qty: new_qty,
                avg: state.avg,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn q(s: &str) -> Quantity {
        Quantity::parse("qty", s, 6, false).unwrap()
    }
    fn m(s: &str) -> Money {
        Money::parse("cost", s).unwrap()
    }

    #[test]
    fn receipts_average_and_sales_keep_the_average() {
        let s = CostState::default();
        let (c, s) = apply(s, q("10"), Some(m("2")));
        assert_eq!(c, m("2"));
        let (_, s) = apply(s, q("10"), Some(m("4")));
        assert_eq!(s.avg, m("3"));
        let (cogs, s) = apply(s, q("-5"), None);
        assert_eq!(cogs, m("3"));
        assert_eq!(s.qty, q("15"));
        assert_eq!(s.avg, m("3"));
    }

    #[test]
    fn receipt_into_negative_stock_takes_the_new_cost() {
        let s = CostState {
            qty: q("-2"),
            avg: m("5"),
        };
        let (_, s) = apply(s, q("4"), Some(m("7")));
        assert_eq!(s.avg, m("7"));
        assert_eq!(s.qty, q("2"));
    }

    proptest! {
        #[test]
        fn average_stays_within_the_costs_seen(costs in prop::collection::vec((1u32..1000, 0u32..100_000), 1..20)) {
            let mut s = CostState::default();
            let (mut lo, mut hi) = (Decimal::MAX, Decimal::ZERO);
            for (n, c) in costs {
                let cost = Money::from_stored(&Decimal::new(c as i64, 2).to_string()).unwrap();
                lo = lo.min(cost.decimal());
                hi = hi.max(cost.decimal());
                s = apply(s, Quantity::from_decimal(n.into()), Some(cost)).1;
                prop_assert!(s.avg.decimal() >= lo - Decimal::new(1, 6));
                prop_assert!(s.avg.decimal() <= hi + Decimal::new(1, 6));
            }
        }
    }
}
