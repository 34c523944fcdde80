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

/// The inverse of the standard normal CDF on (0, 1) (Wichura's AS241
/// PPND16, relative accuracy about 1e-16). `None` outside (0, 1).
pub fn inverse_normal_cdf(p: f64) -> Option<f64> {
    if !(p > 0.0 && p < 1.0) {
        return None;
    }
    let q = p - 0.5;
    if q.abs() <= 0.425 {
        let r = 0.180625 - q * q;
        let num = ((((((r * 2509.080_928_730_122_7 + 33430.575_583_588_128) * r
            + 67265.770_927_008_7)
            * r
            + 45921.953_931_549_871)
            * r
            + 13731.693_765_509_461)
            * r
            + 1971.590_950_306_551_4)
            * r
            + 133.141_667_891_784_38)
            * r
            + 3.387_132_872_796_366_6;
        let den = ((((((r * 5226.495_278_852_546 + 28729.085_735_721_943) * r
            + 39307.895_800_092_71)
            * r
            + 21213.794_301_586_596)
            * r
            + 5394.196_021_424_751)
            * r
            + 687.187_007_492_057_9)
            * r
            + 42.313_330_701_600_91)
            * r
            + 1.0;
        return Some(q * num / den);
    }
    let r = if q < 0.0 { p } else { 1.0 - p };
    let mut r = (-r.ln()).sqrt();
    let v = if r <= 5.0 {
        r -= 1.6;
        let num = ((((((r * 7.745_450_142_783_414e-4 + 0.022_723_844_989_269_185) * r
            + 0.241_780_725_177_450_6)
            * r
            + 1.270_458_252_452_368_4)
            * r
            + 3.647_848_324_763_204_6)
            * r
            + 5.769_497_221_460_691)
            * r
            + 4.630_337_846_156_545)
            * r
            + 1.423_437_110_749_683_6;
        let den = ((((((r * 1.050_750_071_644_416_8e-9 + 5.475_938_084_995_345e-4) * r
            + 0.015_198_666_563_616_457)
            * r
            + 0.148_103_976_427_480_07)
            * r
            + 0.689_767_334_985_1)
            * r
            + 1.676_384_830_183_803_8)
            * r
            + 2.053_191_626_637_759)
            * r
            + 1.0;
        num / den
    } else {
        r -= 5.0;
        let num = ((((((r * 2.010_334_399_292_288_1e-7 + 2.711_555_568_743_487_6e-5) * r
            + 0.001_242_660_947_388_078_4)
            * r
            + 0.026_532_189_526_576_124)
            * r
            + 0.296_560_571_828_504_9)
            * r
            + 1.784_826_539_917_291_3)
            * r
            + 5.463_784_911_164_114)
            * r
            + 6.657_904_643_501_103_8;
        let den = ((((((r * 2.044_263_103_389_939_8e-15 + 1.421_511_758_316_445_9e-7) * r
            + 1.846_318_317_510_054_8e-5)
            * r
            + 7.868_691_311_456_133e-4)
            * r
            + 0.014_875_361_290_850_615)
            * r
            + 0.136_929_880_922_735_8)
            * r
            + 0.599_832_206_555_887_9)
            * r
            + 1.0;
        num / den
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
pub fn eoq(annual_demand: Decimal, order_cost: Decimal, holding_cost_per_unit_year: Decimal) -> Option<Decimal> {
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
pub fn round_order(need: Decimal, pack_size: Option<Decimal>, min_order_qty: Option<Decimal>) -> Decimal {
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
        // √(2 · 200 · 10 / 1) = √4000... = 63.2456; exact: 2·2·8/2 = 16 → 4.
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

    #[test]
    fn days_of_supply_cases() {
        assert_eq!(days_of_supply(d("30"), 2.0), Some(15.0));
        assert_eq!(days_of_supply(d("-4"), 2.0), Some(-2.0));
        assert_eq!(days_of_supply(d("30"), 0.0), None);
        assert_eq!(days_of_supply(d("30"), f64::NAN), None);
    }
}
