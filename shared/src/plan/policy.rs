//! Replenishment policy: service level to z, safety stock, reorder point,
//! order-up-to level, EOQ, order rounding and days of supply.
//!
//! Quantities leave this module as `Decimal` (rounded to 4 places; negative
//! or non-finite intermediate values become 0); the maths inside is `f64`.

use rust_decimal::Decimal;
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};

/// Decimal places of the quantities returned.
const QTY_DP: u32 = 4;

/// A non-negative `f64` quantity as a `Decimal` (NaN and negatives → 0,
/// beyond `Decimal`'s range → `Decimal::MAX`).
fn qty(v: f64) -> Decimal {
    if v.is_nan() || v <= 0.0 {
        return Decimal::ZERO;
    }
    Decimal::from_f64(v)
        .map(|d| d.round_dp(QTY_DP))
        .unwrap_or(Decimal::MAX)
}

fn f(d: Decimal) -> f64 {
    d.to_f64().unwrap_or(0.0)
}

// Wichura's AS241 (PPND16) coefficients as published, highest power first.
#[allow(clippy::excessive_precision, clippy::unreadable_literal)]
mod as241 {
    pub(super) const A: [f64; 8] = [
        2509.0809287301226727,
        33430.575583588128105,
        67265.770927008700853,
        45921.953931549871457,
        13731.693765509461125,
        1971.5909503065514427,
        133.14166789178437745,
        3.387132872796366608,
    ];
    pub(super) const B: [f64; 8] = [
        5226.495278852545925,
        28729.085735721942674,
        39307.89580009271061,
        21213.794301586595867,
        5394.1960214247511077,
        687.1870074920579083,
        42.313330701600911252,
        1.0,
    ];
    pub(super) const C: [f64; 8] = [
        7.7454501427834140764e-4,
        0.0227238449892691845833,
        0.24178072517745061177,
        1.27045825245236838258,
        3.64784832476320460504,
        5.7694972214606914055,
        4.6303378461565452959,
        1.42343711074968357734,
    ];
    pub(super) const D: [f64; 8] = [
        1.05075007164441684324e-9,
        5.475938084995344946e-4,
        0.0151986665636164571966,
        0.14810397642748007459,
        0.68976733498510000455,
        1.6763848301838038494,
        2.05319162663775882187,
        1.0,
    ];
    pub(super) const E: [f64; 8] = [
        2.01033439929228813265e-7,
        2.71155556874348757815e-5,
        0.0012426609473880784386,
        0.026532189526576123093,
        0.29656057182850489123,
        1.7848265399172913358,
        5.4637849111641143699,
        6.6579046435011037772,
    ];
    pub(super) const F: [f64; 8] = [
        2.04426310338993978564e-15,
        1.4215117583164458887e-7,
        1.8463183175100546818e-5,
        7.868691311456132591e-4,
        0.0148753612908506148525,
        0.13692988092273580531,
        0.59983220655588793769,
        1.0,
    ];
}

/// A polynomial at `x`, coefficients highest power first (Horner).
fn poly(c: &[f64; 8], x: f64) -> f64 {
    c.iter().fold(0.0, |acc, &k| acc * x + k)
}

/// The inverse of the standard normal CDF on (0, 1) (Wichura's AS241
/// PPND16, relative accuracy about 1e-16). `None` outside (0, 1).
pub fn inverse_normal_cdf(p: f64) -> Option<f64> {
    if !(p > 0.0 && p < 1.0) {
        return None;
    }
    let q = p - 0.5;
    if q.abs() <= 0.425 {
        let r = 0.180625 - q * q;
        return Some(q * poly(&as241::A, r) / poly(&as241::B, r));
    }
    let tail = if q < 0.0 { p } else { 1.0 - p };
    let r = (-tail.ln()).sqrt();
    let v = if r <= 5.0 {
        poly(&as241::C, r - 1.6) / poly(&as241::D, r - 1.6)
    } else {
        poly(&as241::E, r - 5.0) / poly(&as241::F, r - 5.0)
    };
    Some(if q < 0.0 { -v } else { v })
}

/// The safety factor z for a cycle service level `p` (the probability of
/// no stock-out in a replenishment cycle). `None` outside (0.5, 0.999], the
/// range the hub accepts.
pub fn z_for_service_level(p: f64) -> Option<f64> {
    if p > 0.5 && p <= 0.999 {
        inverse_normal_cdf(p)
    } else {
        None
    }
}

/// Safety stock `z · σ · √(L + R)`: `σ` the standard deviation of one day's
/// forecast error, `L` the lead time and `R` the review period in days
/// (negative inputs count as 0).
pub fn safety_stock(error_sd_daily: f64, lead_time_days: f64, review_days: f64, z: f64) -> Decimal {
    let days = lead_time_days.max(0.0) + review_days.max(0.0);
    qty(z * error_sd_daily * days.sqrt())
}

/// Reorder point `mean · L + SS`, for continuous review.
pub fn reorder_point(mean_daily: f64, lead_time_days: f64, safety_stock: Decimal) -> Decimal {
    qty(mean_daily.max(0.0) * lead_time_days.max(0.0)).saturating_add(safety_stock)
}

/// Order-up-to level `mean · (L + R) + SS`, for periodic review.
pub fn order_up_to(
    mean_daily: f64,
    lead_time_days: f64,
    review_days: f64,
    safety_stock: Decimal,
) -> Decimal {
    let days = lead_time_days.max(0.0) + review_days.max(0.0);
    qty(mean_daily.max(0.0) * days).saturating_add(safety_stock)
}

/// Economic order quantity `√(2 D S / H)`: `D` units a year, `S` the cost of
/// one order, `H` the cost of holding one unit a year. `None` when `H ≤ 0`
/// or `D` or `S` is negative.
pub fn eoq(
    annual_demand: Decimal,
    order_cost: Decimal,
    holding_cost_per_unit_year: Decimal,
) -> Option<Decimal> {
    if holding_cost_per_unit_year <= Decimal::ZERO
        || annual_demand < Decimal::ZERO
        || order_cost < Decimal::ZERO
    {
        return None;
    }
    let v = 2.0 * f(annual_demand) * f(order_cost) / f(holding_cost_per_unit_year);
    Some(qty(v.sqrt()))
}

/// The quantity to order for a `need`: 0 when `need ≤ 0`; otherwise first
/// raised to `min_order_qty`, then rounded up to a whole number of packs of
/// `pack_size` (a pack size ≤ 0 is ignored). Rounding comes last, so the
/// result is always whole packs, and can exceed a minimum that is not itself
/// whole packs (need 3, minimum 10, packs of 6 → 12).
pub fn round_order(
    need: Decimal,
    pack_size: Option<Decimal>,
    min_order_qty: Option<Decimal>,
) -> Decimal {
    if need <= Decimal::ZERO {
        return Decimal::ZERO;
    }
    let mut q = need;
    if let Some(min) = min_order_qty
        && min > q
    {
        q = min;
    }
    if let Some(pack) = pack_size
        && pack > Decimal::ZERO
        && let Some(packs) = q.checked_div(pack)
        && let Some(rounded) = packs.ceil().checked_mul(pack)
    {
        q = rounded;
    }
    q
}

/// Days the stock `position` lasts at `mean_daily` demand (negative for a
/// backlog). `None` when demand is 0, negative or not finite.
pub fn days_of_supply(position: Decimal, mean_daily: f64) -> Option<f64> {
    if !(mean_daily.is_finite() && mean_daily > 0.0) {
        return None;
    }
    let v = f(position) / mean_daily;
    v.is_finite().then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn inverse_normal_known_values() {
        let cases = [
            (0.5, 0.0),
            (0.95, 1.644_853_626_951_472_2),
            (0.99, 2.326_347_874_040_840_8),
            (0.975, 1.959_963_984_540_054),
            (0.999, 3.090_232_306_167_813_5),
            (0.841_344_746_068_542_9, 1.0),
            (0.05, -1.644_853_626_951_472_2),
            (1e-10, -6.361_340_902_404_056),
        ];
        for (p, z) in cases {
            let got = inverse_normal_cdf(p).unwrap();
            assert!((got - z).abs() < 1e-9, "p={p}: {got} vs {z}");
        }
        assert_eq!(inverse_normal_cdf(0.0), None);
        assert_eq!(inverse_normal_cdf(1.0), None);
        assert_eq!(inverse_normal_cdf(f64::NAN), None);
    }

    #[test]
    fn service_level_range() {
        assert!((z_for_service_level(0.95).unwrap() - 1.644_853_6).abs() < 1e-7);
        assert!((z_for_service_level(0.99).unwrap() - 2.326_347_9).abs() < 1e-7);
        assert!(z_for_service_level(0.999).is_some());
        assert_eq!(z_for_service_level(0.5), None);
        assert_eq!(z_for_service_level(0.4), None);
        assert_eq!(z_for_service_level(0.9991), None);
        assert_eq!(z_for_service_level(f64::NAN), None);
    }

    #[test]
    fn stock_levels_hand_computed() {
        // z 2, σ 3, L 7, R 9: 2 · 3 · √16 = 24.
        let ss = safety_stock(3.0, 7.0, 9.0, 2.0);
        assert_eq!(ss, d("24"));
        // mean 5 · L 7 + 24 = 59; 5 · 16 + 24 = 104.
        assert_eq!(reorder_point(5.0, 7.0, ss), d("59"));
        assert_eq!(order_up_to(5.0, 7.0, 9.0, ss), d("104"));
        assert_eq!(safety_stock(f64::NAN, 7.0, 0.0, 2.0), Decimal::ZERO);
        assert_eq!(reorder_point(-1.0, 7.0, Decimal::ZERO), Decimal::ZERO);
    }

    #[test]
    fn eoq_hand_computed() {
        // √(2 · 1000 · 50 / 4) = √25000 = 158.1139 (4 places).
        assert_eq!(eoq(d("1000"), d("50"), d("4")), Some(d("158.1139")));
        // √(2 · 2 · 8 / 2) = √16 = 4.
        assert_eq!(eoq(d("2"), d("8"), d("2")), Some(d("4")));
        assert_eq!(eoq(d("1000"), d("50"), d("0")), None);
        assert_eq!(eoq(d("1000"), d("50"), d("-1")), None);
        assert_eq!(eoq(d("0"), d("50"), d("1")), Some(Decimal::ZERO));
    }

    #[test]
    fn round_order_raises_to_the_minimum_then_to_packs() {
        assert_eq!(round_order(d("0"), Some(d("6")), Some(d("10"))), d("0"));
        assert_eq!(round_order(d("-3"), Some(d("6")), Some(d("10"))), d("0"));
        // No rules: the need as it is.
        assert_eq!(round_order(d("7.5"), None, None), d("7.5"));
        // Packs only: up to whole packs, exact multiples stay.
        assert_eq!(round_order(d("7"), Some(d("6")), None), d("12"));
        assert_eq!(round_order(d("12"), Some(d("6")), None), d("12"));
        assert_eq!(round_order(d("0.1"), Some(d("6")), None), d("6"));
        // Minimum only.
        assert_eq!(round_order(d("3"), None, Some(d("10"))), d("10"));
        assert_eq!(round_order(d("11"), None, Some(d("10"))), d("11"));
        // Both: minimum first, then packs. Min 10 with packs of 6 gives 12
        // (packs first, then minimum, would have given 10, not whole packs).
        assert_eq!(round_order(d("3"), Some(d("6")), Some(d("10"))), d("12"));
        // A minimum that is whole packs stays.
        assert_eq!(round_order(d("3"), Some(d("6")), Some(d("12"))), d("12"));
        // A need above the minimum rounds up to packs.
        assert_eq!(round_order(d("13"), Some(d("6")), Some(d("10"))), d("18"));
        // Pack sizes ≤ 0 are ignored; fractional packs work.
        assert_eq!(round_order(d("3"), Some(d("0")), Some(d("10"))), d("10"));
        assert_eq!(round_order(d("3"), Some(d("-6")), None), d("3"));
        assert_eq!(round_order(d("1.1"), Some(d("0.5")), None), d("1.5"));
    }

    proptest::proptest! {
        #[test]
        fn round_order_is_whole_packs_at_least_need_and_minimum(
            need in -1000i64..100_000,
            pack in proptest::option::of(-5i64..500),
            min in proptest::option::of(0i64..5_000),
        ) {
            let (need, pack, min) = (
                Decimal::new(need, 2),
                pack.map(|p| Decimal::new(p, 1)),
                min.map(|m| Decimal::new(m, 1)),
            );
            let q = round_order(need, pack, min);
            if need <= Decimal::ZERO {
                proptest::prop_assert_eq!(q, Decimal::ZERO);
            } else {
                proptest::prop_assert!(q >= need);
                proptest::prop_assert!(q >= min.unwrap_or(Decimal::ZERO));
                if let Some(p) = pack.filter(|p| *p > Decimal::ZERO) {
                    proptest::prop_assert_eq!(q % p, Decimal::ZERO);
                    // Not a pack more than needed.
                    proptest::prop_assert!(q - p < need.max(min.unwrap_or(Decimal::ZERO)));
                }
            }
        }

        #[test]
        fn stock_levels_are_non_negative(
            sd in proptest::num::f64::ANY,
            mean in proptest::num::f64::ANY,
            l in 0.0..400.0f64,
            r in 0.0..60.0f64,
            p in 0.5..1.0f64,
        ) {
            let z = z_for_service_level(p).unwrap_or(0.0);
            let ss = safety_stock(sd, l, r, z);
            proptest::prop_assert!(ss >= Decimal::ZERO);
            proptest::prop_assert!(reorder_point(mean, l, ss) >= ss);
            proptest::prop_assert!(order_up_to(mean, l, r, ss) >= reorder_point(mean, l, ss));
        }
    }

    #[test]
    fn days_of_supply_cases() {
        assert_eq!(days_of_supply(d("30"), 2.0), Some(15.0));
        assert_eq!(days_of_supply(d("-4"), 2.0), Some(-2.0));
        assert_eq!(days_of_supply(d("30"), 0.0), None);
        assert_eq!(days_of_supply(d("30"), f64::NAN), None);
    }
}
