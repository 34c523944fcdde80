//! Reorder suggestions: every line whose stock position is at or below its
//! reorder point, with the quantity to order and where it comes from. Pure.

use super::policy::PolicyRow;
use jxc_shared::plan::policy::round_order;
use rust_decimal::Decimal;
use std::collections::HashMap;

/// Where a suggestion is filled from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A transfer (sell-in) from HQ's warehouse: the HQ location holding
    /// the most of the SKU, or the HQ site alone when none holds any.
    Hq {
        site: String,
        location: Option<String>,
    },
    /// A purchase from the supplier (HQ's own lines), or a transfer for a
    /// site when the hub knows no HQ site.
    Supplier,
}

/// One reorder suggestion and the policy it was computed from.
#[derive(Debug, Clone, PartialEq)]
pub struct Suggestion {
    pub policy: PolicyRow,
    /// `order_up_to − position`: what brings the line back to its level.
    pub need: Decimal,
    /// `need` raised to the minimum order, then rounded up to whole packs.
    pub qty: Decimal,
    pub source: Source,
    /// On hand at the HQ source location (`None` for the supplier).
    pub source_on_hand: Option<Decimal>,
    /// What a planner decided on it for this plan day, if anything.
    pub decision: Option<crate::store::PlanDecision>,
}

impl Suggestion {
    /// `transfer` from HQ, or `purchase` from the supplier.
    pub fn action(&self) -> &'static str {
        match self.source {
            Source::Hq { .. } => "transfer",
            Source::Supplier => "purchase",
        }
    }
}

/// HQ's stock per SKU: `(site, location, qty)` of each HQ location holding it.
pub type HqStock = HashMap<String, Vec<(String, String, Decimal)>>;

/// The suggestion for each line of `rows` at or below its reorder point
/// whose need is positive, in the order of `rows`. `hq_sites` are the HQ
/// sites' ids (the first is the source of a SKU no HQ location holds).
pub fn suggest(rows: &[PolicyRow], hq_sites: &[String], hq_stock: &HqStock) -> Vec<Suggestion> {
    rows.iter()
        .filter(|r| r.position() <= r.reorder_point)
        .filter_map(|r| {
            let need = r.order_up_to - r.position();
            let qty = round_order(need, r.pack_size, r.min_order_qty);
            if qty <= Decimal::ZERO {
                return None;
            }
            let (source, source_on_hand) = if r.kind == "hq" || hq_sites.is_empty() {
                (Source::Supplier, None)
            } else {
                let best = hq_stock.get(&r.sku).and_then(|held| {
                    held.iter()
                        .filter(|(_, _, q)| *q > Decimal::ZERO)
                        .max_by(|a, b| a.2.cmp(&b.2).then_with(|| b.1.cmp(&a.1)))
                });
                match best {
                    Some((site, location, q)) => (
                        Source::Hq {
                            site: site.clone(),
                            location: Some(location.clone()),
                        },
                        Some(*q),
                    ),
                    None => (
                        Source::Hq {
                            site: hq_sites[0].clone(),
                            location: None,
                        },
                        Some(Decimal::ZERO),
                    ),
                }
            };
            Some(Suggestion {
                policy: r.clone(),
                need,
                qty,
                source,
                source_on_hand,
                decision: None,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use jxc_shared::plan::Method;
    use jxc_shared::plan::classify::{Abc, Xyz};

    fn d(v: i64) -> Decimal {
        Decimal::from(v)
    }

    fn row(kind: &str, on_hand: i64, rop: i64, out: i64) -> PolicyRow {
        PolicyRow {
            site: "D1".into(),
            kind: kind.into(),
            location: "SHOP".into(),
            sku: "T1".into(),
            category: String::new(),
            abc: Abc::A,
            xyz: Xyz::X,
            method: Method::Tsb,
            no_history: false,
            daily_demand: d(2),
            demand_sd: d(1),
            lead_time_days: 5,
            review_days: 7,
            safety_stock: d(4),
            reorder_point: d(rop),
            order_up_to: d(out),
            eoq: None,
            on_hand: d(on_hand),
            in_transit: d(1),
            days_of_supply: None,
            unit_cost: None,
            order_cost: d(50),
            holding_rate: Decimal::new(25, 2),
            pack_size: Some(d(6)),
            min_order_qty: Some(d(10)),
            stale: false,
        }
    }

    #[test]
    fn a_line_at_its_reorder_point_is_refilled_in_packs_from_hq_s_fullest_location() {
        let hq = HqStock::from([(
            "T1".to_owned(),
            vec![
                ("HQ".to_owned(), "WH1".to_owned(), d(5)),
                ("HQ".to_owned(), "WH2".to_owned(), d(40)),
            ],
        )]);
        // Position 13 + 1 = 14 ≤ ROP 14; need 28 − 14 = 14 → 3 packs of 6.
        let s = suggest(&[row("dealer", 13, 14, 28)], &["HQ".into()], &hq);
        assert_eq!(s.len(), 1);
        assert_eq!((s[0].need, s[0].qty), (d(14), d(18)));
        assert_eq!(s[0].action(), "transfer");
        assert_eq!(
            s[0].source,
            Source::Hq {
                site: "HQ".into(),
                location: Some("WH2".into())
            }
        );
        assert_eq!(s[0].source_on_hand, Some(d(40)));
    }

    #[test]
    fn above_the_reorder_point_nothing_and_hq_buys_from_the_supplier() {
        assert!(
            suggest(
                &[row("dealer", 14, 14, 28)],
                &["HQ".into()],
                &HqStock::new()
            )
            .is_empty()
        );
        // Need 2 → the minimum 10 → 2 packs of 6.
        let s = suggest(&[row("hq", 5, 8, 8)], &["HQ".into()], &HqStock::new());
        assert_eq!(
            (s[0].need, s[0].qty, s[0].action()),
            (d(2), d(12), "purchase")
        );
        assert_eq!(s[0].source_on_hand, None);
        // A SKU HQ holds none of: still from HQ, which has 0 of it.
        let s = suggest(&[row("branch", 0, 8, 20)], &["HQ".into()], &HqStock::new());
        assert_eq!(s[0].source_on_hand, Some(Decimal::ZERO));
        // Nothing to order when the level is no higher than the position.
        assert!(suggest(&[row("branch", 0, 1, 1)], &[], &HqStock::new()).is_empty());
    }
}
