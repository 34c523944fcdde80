//! Movements: the immutable entries of the stock ledger, and the rules that
//! decide whether a proposed one may be written.

use crate::product::check_text;
use crate::{DomainError, LocationId, Lot, Money, Product, Quantity, Sku};
use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};

/// Every way stock can change. A mistake is corrected by a reversing
/// movement, never by an edit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MovementKind {
    /// 期初: the balance a location starts with.
    Opening,
    /// 采购入库: goods received from a supplier.
    Receipt,
    /// 销售出库: goods sold to a customer (a sell-through record).
    Sale,
    /// 销售退货: a customer returned goods.
    CustomerReturn,
    /// 采购退货: goods returned to the supplier.
    SupplierReturn,
    /// 调拨出库: sent to another location.
    TransferOut,
    /// 调拨入库: received from another location.
    TransferIn,
    /// 盘点盈亏: a count found more (positive) or less (negative) stock.
    Adjustment,
    /// 报损: damaged, expired or lost goods written off.
    Scrap,
}

/// Which way a kind moves stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    In,
    Out,
    /// Signed by the quantity itself (adjustments).
    Either,
}

impl MovementKind {
    pub const ALL: [MovementKind; 9] = [
        MovementKind::Opening,
        MovementKind::Receipt,
        MovementKind::Sale,
        MovementKind::CustomerReturn,
        MovementKind::SupplierReturn,
        MovementKind::TransferOut,
        MovementKind::TransferIn,
        MovementKind::Adjustment,
        MovementKind::Scrap,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MovementKind::Opening => "opening",
            MovementKind::Receipt => "receipt",
            MovementKind::Sale => "sale",
            MovementKind::CustomerReturn => "customer_return",
            MovementKind::SupplierReturn => "supplier_return",
            MovementKind::TransferOut => "transfer_out",
            MovementKind::TransferIn => "transfer_in",
            MovementKind::Adjustment => "adjustment",
            MovementKind::Scrap => "scrap",
        }
    }

    pub fn parse(s: &str) -> Result<Self, DomainError> {
        Self::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| {
            DomainError::new(
                "type",
                s,
                "use receipt, sale, customer_return, supplier_return, scrap, adjustment or opening",
            )
        })
    }

    pub fn direction(self) -> Direction {
        match self {
            MovementKind::Opening
            | MovementKind::Receipt
            | MovementKind::CustomerReturn
            | MovementKind::TransferIn => Direction::In,
            MovementKind::Sale
            | MovementKind::SupplierReturn
            | MovementKind::TransferOut
            | MovementKind::Scrap => Direction::Out,
            MovementKind::Adjustment => Direction::Either,
        }
    }

    /// Whether a caller may state the unit cost. Outbound movements are valued
    /// at the moving-average cost, so a stated cost there would be ignored.
    pub fn accepts_cost(self) -> bool {
        matches!(
            self,
            MovementKind::Opening
                | MovementKind::Receipt
                | MovementKind::CustomerReturn
                | MovementKind::Adjustment
                | MovementKind::TransferIn
        )
    }

    /// Whether a selling price applies.
    pub fn accepts_price(self) -> bool {
        matches!(self, MovementKind::Sale | MovementKind::CustomerReturn)
    }

    /// Whether a written reason is required.
    pub fn needs_reason(self) -> bool {
        matches!(self, MovementKind::Scrap | MovementKind::Adjustment)
    }
}

/// A movement as proposed, before the ledger gives it a seq and a cost.
/// `qty` is the signed change to on-hand stock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MovementDraft {
    pub kind: MovementKind,
    pub location: LocationId,
    pub sku: Sku,
    pub lot: Option<Lot>,
    pub qty: Quantity,
    pub unit_cost: Option<Money>,
    pub unit_price: Option<Money>,
    pub counterparty: Option<String>,
    pub reference: Option<String>,
    pub reason: Option<String>,
    pub transfer_id: Option<String>,
    pub occurred_at: DateTime<FixedOffset>,
}

/// The optional parts of a movement as a user gives them, all still text.
#[derive(Debug, Clone, Default)]
pub struct DraftInput<'a> {
    pub lot: Option<&'a str>,
    pub unit_cost: Option<&'a str>,
    pub unit_price: Option<&'a str>,
    pub counterparty: Option<&'a str>,
    pub reference: Option<&'a str>,
    pub reason: Option<&'a str>,
}

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.filter(|v| !v.trim().is_empty())
}

impl MovementDraft {
    /// Validates one proposed movement against the product it names. `qty` is
    /// what the user wrote: positive for every kind except an adjustment,
    /// which is signed.
    pub fn build(
        kind: MovementKind,
        location: LocationId,
        product: &Product,
        qty: &str,
        input: &DraftInput<'_>,
        occurred_at: DateTime<FixedOffset>,
    ) -> Result<Self, DomainError> {
        let signed = kind.direction() == Direction::Either;
        let q = Quantity::parse("qty", qty, product.decimals, !signed)?;
        let qty = if kind.direction() == Direction::Out {
            -q
        } else {
            q
        };

        let lot = match (non_empty(input.lot), product.lot_tracked) {
            (Some(l), true) => Some(Lot::parse(l)?),
            (None, true) => {
                return Err(DomainError::new(
                    "lot",
                    "",
                    format!("product {} is lot-tracked: give --lot", product.sku),
                ));
            }
            (Some(l), false) => {
                return Err(DomainError::new(
                    "lot",
                    l,
                    format!(
                        "product {} is not lot-tracked: leave the lot empty",
                        product.sku
                    ),
                ));
            }
            (None, false) => None,
        };

        let unit_cost = match non_empty(input.unit_cost) {
            Some(c) if !kind.accepts_cost() || qty.is_negative() => {
                return Err(DomainError::new(
                    "unit_cost",
                    c,
                    "outgoing stock is valued at moving-average cost: leave the cost empty",
                ));
            }
            Some(c) => Some(Money::parse("unit_cost", c)?),
            None => None,
        };
        let unit_price = match non_empty(input.unit_price) {
            Some(p) if !kind.accepts_price() => {
                return Err(DomainError::new(
                    "unit_price",
                    p,
                    "a price applies only to sales and customer returns",
                ));
            }
            Some(p) => Some(Money::parse("unit_price", p)?),
            None => None,
        };
        let reason = match non_empty(input.reason) {
            Some(r) => Some(check_text("reason", r, 200)?),
            None if kind.needs_reason() => {
                return Err(DomainError::new(
                    "reason",
                    "",
                    format!("a {} needs a reason", kind.as_str()),
                ));
            }
            None => None,
        };
        let counterparty = non_empty(input.counterparty)
            .map(|c| check_text("counterparty", c, 200))
            .transpose()?;
        let reference = non_empty(input.reference)
            .map(|r| check_text("ref", r, 100))
            .transpose()?;

        Ok(Self {
            kind,
            location,
            sku: product.sku.clone(),
            lot,
            qty,
            unit_cost,
            unit_price,
            counterparty,
            reference,
            reason,
            transfer_id: None,
            occurred_at,
        })
    }
}

/// A movement as the ledger holds it: numbered and valued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Movement {
    pub seq: u64,
    #[serde(flatten)]
    pub draft: MovementDraft,
    /// The cost each unit was valued at: stated for incoming stock, the
    /// moving average for outgoing stock (so a sale's cost of goods sold is
    /// `-qty × unit_cost`).
    pub unit_cost: Money,
    pub recorded_at: DateTime<FixedOffset>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn product(decimals: u32, lot_tracked: bool) -> Product {
        Product::new(
            "茶-1",
            "龙井, 特级",
            None,
            None,
            None,
            decimals,
            lot_tracked,
        )
        .unwrap()
    }
    fn at() -> DateTime<FixedOffset> {
        FixedOffset::east_opt(8 * 3600)
            .unwrap()
            .with_ymd_and_hms(2026, 11, 2, 9, 0, 0)
            .unwrap()
    }
    fn loc() -> LocationId {
        LocationId::parse("main").unwrap()
    }

    #[test]
    fn outbound_kinds_are_negative_and_adjustments_signed() {
        let p = product(2, false);
        let none = DraftInput::default();
        let sale = MovementDraft::build(MovementKind::Sale, loc(), &p, "1.5", &none, at()).unwrap();
        assert_eq!(sale.qty.to_string(), "-1.5");
        let reason = DraftInput {
            reason: Some("count"),
            ..Default::default()
        };
        let adj =
            MovementDraft::build(MovementKind::Adjustment, loc(), &p, "-2", &reason, at()).unwrap();
        assert!(adj.qty.is_negative());
        assert!(MovementDraft::build(MovementKind::Sale, loc(), &p, "-2", &none, at()).is_err());
    }

    #[test]
    fn lots_must_match_tracking() {
        let none = DraftInput::default();
        let lot = DraftInput {
            lot: Some("L1"),
            ..Default::default()
        };
        let tracked = product(0, true);
        let e = MovementDraft::build(MovementKind::Receipt, loc(), &tracked, "1", &none, at());
        assert_eq!(e.unwrap_err().field, "lot");
        let plain = product(0, false);
        let e = MovementDraft::build(MovementKind::Receipt, loc(), &plain, "1", &lot, at());
        assert_eq!(e.unwrap_err().field, "lot");
    }

    #[test]
    fn cost_price_and_reason_apply_only_where_they_mean_something() {
        let p = product(0, false);
        let cost = DraftInput {
            unit_cost: Some("3"),
            ..Default::default()
        };
        let e = MovementDraft::build(MovementKind::Sale, loc(), &p, "1", &cost, at());
        assert_eq!(e.unwrap_err().field, "unit_cost");
        let price = DraftInput {
            unit_price: Some("3"),
            ..Default::default()
        };
        let e = MovementDraft::build(MovementKind::Receipt, loc(), &p, "1", &price, at());
        assert_eq!(e.unwrap_err().field, "unit_price");
        let e = MovementDraft::build(
            MovementKind::Scrap,
            loc(),
            &p,
            "1",
            &DraftInput::default(),
            at(),
        );
        assert_eq!(e.unwrap_err().field, "reason");
    }

    #[test]
    fn kind_names_round_trip() {
        for k in MovementKind::ALL {
            assert_eq!(MovementKind::parse(k.as_str()).unwrap(), k);
        }
        assert_eq!(MovementKind::parse("sold").unwrap_err().field, "type");
    }
}
