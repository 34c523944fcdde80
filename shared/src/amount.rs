//! Quantities and money: exact decimals, never floats.
//!
//! Storage keeps quantities as integers scaled by 10^6 ("micro-units") so that
//! SQLite can index and sum them exactly; money is stored as exact text.

use crate::DomainError;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Most decimal places any quantity may have (a product may allow fewer).
pub const QTY_MAX_DECIMALS: u32 = 6;
/// Most decimal places of a unit cost or price.
pub const MONEY_MAX_DECIMALS: u32 = 6;
/// Largest magnitude of one movement's quantity; keeps micro-units and their
/// sums far inside `i64`.
const QTY_LIMIT: i64 = 1_000_000_000_000;
/// Largest unit cost or price accepted.
const MONEY_LIMIT: i64 = 1_000_000_000_000;
const MICRO: i64 = 1_000_000;

fn parse_decimal(field: &'static str, s: &str) -> Result<Decimal, DomainError> {
    let t = s.trim();
    if t.is_empty() {
        return Err(DomainError::new(field, s, "a number is required"));
    }
    // Decimal::from_str also takes "1e3" and "1_000"; people and files mean
    // plain decimals, so anything else is refused rather than guessed at.
    let body = t.strip_prefix(['-', '+']).unwrap_or(t);
    if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(DomainError::new(
            field,
            s,
            "write a decimal number such as 12 or 3.75",
        ));
    }
    Decimal::from_str(t)
        .map_err(|_| DomainError::new(field, s, "write a decimal number such as 12 or 3.75"))
}

/// A signed quantity of a product, with at most [`QTY_MAX_DECIMALS`] places.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Quantity(#[serde(with = "rust_decimal::serde::str")] Decimal);

impl Quantity {
    pub const ZERO: Quantity = Quantity(Decimal::ZERO);

    /// Parses a quantity as a user wrote it, allowing at most `decimals` places.
    /// `positive` refuses zero and negatives; otherwise only zero is refused.
    pub fn parse(
        field: &'static str,
        s: &str,
        decimals: u32,
        positive: bool,
    ) -> Result<Self, DomainError> {
        let d = parse_decimal(field, s)?.normalize();
        if positive && d <= Decimal::ZERO {
            return Err(DomainError::new(field, s, "must be greater than 0"));
        }
        if d.is_zero() {
            return Err(DomainError::new(field, s, "must not be 0"));
        }
        Self::checked(field, s, d, decimals)
    }

    /// Parses a counted quantity: zero allowed, negatives not.
    pub fn parse_count(field: &'static str, s: &str, decimals: u32) -> Result<Self, DomainError> {
        let d = parse_decimal(field, s)?.normalize();
        if d < Decimal::ZERO {
            return Err(DomainError::new(
                field,
                s,
                "a counted quantity cannot be negative",
            ));
        }
        Self::checked(field, s, d, decimals)
    }

    fn checked(
        field: &'static str,
        s: &str,
        d: Decimal,
        decimals: u32,
    ) -> Result<Self, DomainError> {
        if d.scale() > decimals {
            let reason = if decimals == 0 {
                "this product is counted in whole units".to_owned()
            } else {
                format!("this product allows at most {decimals} decimal places")
            };
            return Err(DomainError::new(field, s, reason));
        }
        if d.abs() >= Decimal::from(QTY_LIMIT) {
            return Err(DomainError::new(
                field,
                s,
                "must be less than 1000000000000",
            ));
        }
        Ok(Self(d))
    }

    pub fn from_decimal(d: Decimal) -> Self {
        Self(d.normalize())
    }
    pub fn decimal(self) -> Decimal {
        self.0
    }
    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }
    pub fn is_negative(self) -> bool {
        self.0.is_sign_negative() && !self.0.is_zero()
    }

    /// The stored form, or `None` if it does not fit (a sum of very many
    /// huge movements). Exact for every value `parse` accepts.
    pub fn checked_micro(self) -> Option<i64> {
        let scaled = self.0.checked_mul(Decimal::from(MICRO))?.trunc();
        i64::try_from(scaled).ok()
    }

    /// The stored form of a quantity known to fit: one `parse` accepted or
    /// the ledger checked with [`Quantity::checked_micro`].
    pub fn to_micro(self) -> i64 {
        self.checked_micro()
            .expect("quantities are bounded by parse and the ledger's overflow check")
    }
    pub fn from_micro(m: i64) -> Self {
        Self(Decimal::new(m, QTY_MAX_DECIMALS).normalize())
    }
}

impl std::ops::Neg for Quantity {
    type Output = Quantity;
    fn neg(self) -> Quantity {
        Quantity(-self.0)
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.normalize(), f)
    }
}

/// A non-negative amount of money per unit (a cost or a price), or a total.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Money(#[serde(with = "rust_decimal::serde::str")] Decimal);

impl Money {
    pub const ZERO: Money = Money(Decimal::ZERO);

    /// Parses a unit cost or price: non-negative, at most 6 decimal places.
    pub fn parse(field: &'static str, s: &str) -> Result<Self, DomainError> {
        let d = parse_decimal(field, s)?.normalize();
        if d < Decimal::ZERO {
            return Err(DomainError::new(field, s, "must not be negative"));
        }
        if d.scale() > MONEY_MAX_DECIMALS {
            return Err(DomainError::new(field, s, "at most 6 decimal places"));
        }
        if d >= Decimal::from(MONEY_LIMIT) {
            return Err(DomainError::new(
                field,
                s,
                "must be less than 1000000000000",
            ));
        }
        Ok(Self(d))
    }

    /// Reads money this program stored itself; `None` if the text is corrupt.
    pub fn from_stored(s: &str) -> Option<Self> {
        Decimal::from_str(s).ok().map(Self)
    }

    /// Rounds a computed unit amount (an average cost) to the stored precision.
    pub fn round_unit(d: Decimal) -> Self {
        Self(
            d.round_dp_with_strategy(MONEY_MAX_DECIMALS, RoundingStrategy::MidpointNearestEven)
                .normalize(),
        )
    }

    /// An exact total, such as quantity × unit cost, rounded to 6 places.
    pub fn total(qty: Quantity, unit: Money) -> Decimal {
        (qty.0 * unit.0)
            .round_dp_with_strategy(MONEY_MAX_DECIMALS, RoundingStrategy::MidpointNearestEven)
            .normalize()
    }

    pub fn decimal(self) -> Decimal {
        self.0
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.normalize(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn quantity_respects_product_decimals() {
        assert_eq!(
            Quantity::parse("qty", "2.50", 1, true).unwrap().to_string(),
            "2.5"
        );
        let err = Quantity::parse("qty", "2.55", 1, true).unwrap_err();
        assert!(
            err.to_string().contains("at most 1 decimal places"),
            "{err}"
        );
        let err = Quantity::parse("qty", "1.5", 0, true).unwrap_err();
        assert!(err.reason.contains("whole units"));
    }

    #[test]
    fn quantity_refuses_zero_negative_and_garbage() {
        for bad in ["0", "-1", "", "abc", "1e3", "1,5", "NaN"] {
            let err = Quantity::parse("qty", bad, 3, true).unwrap_err();
            assert_eq!(err.field, "qty");
        }
        assert!(
            Quantity::parse("qty", "-2", 0, false)
                .unwrap()
                .is_negative()
        );
        assert!(Quantity::parse("qty", "1000000000000", 0, true).is_err());
        assert!(Quantity::parse("qty", "99999999999999999999999999999", 0, true).is_err());
    }

    #[test]
    fn money_refuses_negative_and_too_precise() {
        assert_eq!(
            Money::parse("unit_cost", "12.3400").unwrap().to_string(),
            "12.34"
        );
        assert!(Money::parse("unit_cost", "-1").is_err());
        assert!(Money::parse("unit_cost", "0.0000001").is_err());
        assert!(Money::parse("unit_cost", "0").is_ok());
    }

    proptest! {
        #[test]
        fn micro_round_trips(units in -999_999_999_999i64..=999_999_999_999, frac in 0i64..1_000_000) {
            let m = units * 1_000_000 + if units < 0 { -frac } else { frac };
            let q = Quantity::from_micro(m);
            prop_assert_eq!(q.to_micro(), m);
            let reparsed = Quantity::parse("qty", &q.to_string(), 6, false);
            if m != 0 {
                prop_assert_eq!(reparsed.unwrap(), q);
            }
        }
    }
}
