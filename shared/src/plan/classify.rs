//! ABC (by revenue) and XYZ (by variability of weekly demand) classes.

use rust_decimal::Decimal;

/// Revenue class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Abc {
    A,
    B,
    C,
}

/// Variability class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Xyz {
    X,
    Y,
    Z,
}

impl Abc {
    pub fn as_str(self) -> &'static str {
        match self {
            Abc::A => "A",
            Abc::B => "B",
            Abc::C => "C",
        }
    }
}

impl Xyz {
    pub fn as_str(self) -> &'static str {
        match self {
            Xyz::X => "X",
            Xyz::Y => "Y",
            Xyz::Z => "Z",
        }
    }
}

/// ABC classes by revenue (over 90 days), returned in rank order: revenue
/// descending, ties by SKU ascending.
///
/// With `T` the total of the positive revenues: A is the smallest prefix of
/// the ranking whose cumulative revenue reaches 80% of `T`; B the further
/// SKUs up to the smallest prefix reaching 95%; C the rest, and every SKU
/// with revenue ≤ 0 (so returns in excess of sales do not shrink the
/// others' shares). `T ≤ 0` → all C. Exact decimal arithmetic throughout.
pub fn abc<'a>(items: &[(&'a str, Decimal)]) -> Vec<(&'a str, Abc)> {
    let mut ranked: Vec<(&'a str, Decimal)> = items.to_vec();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let total = ranked
        .iter()
        .filter(|(_, r)| *r > Decimal::ZERO)
        .fold(Decimal::ZERO, |t, (_, r)| t.saturating_add(*r));
    let a_line = total * Decimal::new(80, 2);
    let b_line = total * Decimal::new(95, 2);
    let mut before = Decimal::ZERO;
    ranked
        .into_iter()
        .map(|(sku, revenue)| {
            let class = if revenue <= Decimal::ZERO {
                Abc::C
            } else if before < a_line {
                Abc::A
            } else if before < b_line {
                Abc::B
            } else {
                Abc::C
            };
            before = before.saturating_add(revenue.max(Decimal::ZERO));
            (sku, class)
        })
        .collect()
}

/// XYZ class of a run of weekly demand (13 weeks) by its coefficient of
/// variation `cv = σ / μ`, with the population standard deviation
/// `σ = √(Σ (x − μ)² / n)`: X when `cv ≤ 0.5`, Y when `0.5 < cv ≤ 1.0`, Z
/// above. A mean ≤ 0, an empty run or a non-finite value → Z.
pub fn xyz(weekly: &[f64]) -> Xyz {
    if weekly.is_empty() || weekly.iter().any(|v| !v.is_finite()) {
        return Xyz::Z;
    }
    let n = weekly.len() as f64;
    let mean = weekly.iter().sum::<f64>() / n;
    if mean.is_nan() || mean <= 0.0 {
        return Xyz::Z;
    }
    let sd = (weekly.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
    let cv = sd / mean;
    if cv <= 0.5 {
        Xyz::X
    } else if cv <= 1.0 {
        Xyz::Y
    } else {
        Xyz::Z
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(v: i64) -> Decimal {
        Decimal::from(v)
    }

    #[test]
    fn abc_hand_computed() {
        // Total 1000. Ranked: e 500 (cum 500), a 200 (700), b 150 (850 ≥ 800:
        // A ends here), c 100 (950 ≥ 950: B ends here), d 50 → C.
        let items = [
            ("a", d(200)),
            ("b", d(150)),
            ("c", d(100)),
            ("d", d(50)),
            ("e", d(500)),
        ];
        assert_eq!(
            abc(&items),
            vec![
                ("e", Abc::A),
                ("a", Abc::A),
                ("b", Abc::A),
                ("c", Abc::B),
                ("d", Abc::C),
            ]
        );
    }

    #[test]
    fn abc_reaching_the_line_exactly_closes_the_class() {
        // Total 100: x reaches 80 exactly, so A = {x}; y reaches 95 → B.
        let items = [("x", d(80)), ("y", d(15)), ("z", d(5))];
        assert_eq!(
            abc(&items),
            vec![("x", Abc::A), ("y", Abc::B), ("z", Abc::C)]
        );
    }

    #[test]
    fn abc_ties_go_by_sku() {
        // Four of 25 each, total 100, ranked a, b, c, d by SKU. The first
        // three reach 75 < 80, so the smallest prefix reaching 80 is all four.
        let items = [("d", d(25)), ("b", d(25)), ("c", d(25)), ("a", d(25))];
        let got = abc(&items);
        assert_eq!(
            got.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
            ["a", "b", "c", "d"]
        );
        assert!(got.iter().all(|(_, c)| *c == Abc::A));
        // Ten of 10: the first 8 reach 80 → A; the 9th and 10th start at 80
        // and 90 (< 95) → B.
        let names = ["j", "i", "h", "g", "f", "e", "d", "c", "b", "a"];
        let items: Vec<_> = names.iter().map(|s| (*s, d(10))).collect();
        let got = abc(&items);
        assert_eq!(got[0], ("a", Abc::A));
        assert_eq!(got[7], ("h", Abc::A));
        assert_eq!(got[8], ("i", Abc::B));
        assert_eq!(got[9], ("j", Abc::B));
    }

    #[test]
    fn abc_single_and_degenerate() {
        assert_eq!(abc(&[("only", d(3))]), vec![("only", Abc::A)]);
        assert_eq!(abc(&[]), vec![]);
        assert_eq!(
            abc(&[("a", d(0)), ("b", d(-5))]),
            vec![("a", Abc::C), ("b", Abc::C)]
        );
        // Non-positive revenue is C even when the total is positive.
        assert_eq!(
            abc(&[("a", d(10)), ("b", d(0)), ("c", d(-1))]),
            vec![("a", Abc::A), ("b", Abc::C), ("c", Abc::C)]
        );
    }

    #[test]
    fn xyz_by_population_cv() {
        assert_eq!(xyz(&[10.0; 13]), Xyz::X);
        // 0, 2 alternating: mean 1, population sd 1 → cv 1.0 → Y.
        assert_eq!(xyz(&[0.0, 2.0, 0.0, 2.0]), Xyz::Y);
        // 5, 15: mean 10, sd 5 → cv 0.5 → X (boundary).
        assert_eq!(xyz(&[5.0, 15.0]), Xyz::X);
        // 0, 0, 0, 4: mean 1, sd √3 → Z.
        assert_eq!(xyz(&[0.0, 0.0, 0.0, 4.0]), Xyz::Z);
        assert_eq!(xyz(&[0.0; 13]), Xyz::Z);
        assert_eq!(xyz(&[]), Xyz::Z);
    }
}
