//! Forecast accuracy: the M5 competition's root mean squared scaled error.

/// Root mean squared scaled error, as the M5 competition defines it:
///
/// ```text
///            ⎛        (1/h) · Σ_{t=n+1}^{n+h} (Y_t − Ŷ_t)²        ⎞ ½
/// RMSSE  =   ⎜ ─────────────────────────────────────────────────── ⎟
///            ⎝  (1/(n−s)) · Σ_{t=s+1}^{n} (Y_t − Y_{t−1})²          ⎠
/// ```
///
/// where `Y_1..Y_n` is `train`, `s` the index of its first non-zero value
/// (the series is taken to start there), `Y_{n+1}..Y_{n+h}` is `actual` and
/// `Ŷ` is `forecast`. The denominator is the in-sample mean squared error of
/// the naive one-step forecast.
///
/// `None` when the scale is 0 or undefined (no non-zero value in `train`, or
/// nothing after it), when the horizon is empty, when `actual` and `forecast`
/// differ in length, or when any value is not finite.
pub fn rmsse(train: &[f64], actual: &[f64], forecast: &[f64]) -> Option<f64> {
    if actual.is_empty() || actual.len() != forecast.len() {
        return None;
    }
    let s = train.iter().position(|&v| v != 0.0)?;
    let diffs = &train[s..];
    if diffs.len() < 2 {
        return None;
    }
    let scale =
        diffs.windows(2).map(|w| (w[1] - w[0]).powi(2)).sum::<f64>() / (diffs.len() - 1) as f64;
    if !(scale.is_finite() && scale > 0.0) {
        return None;
    }
    let mse = actual
        .iter()
        .zip(forecast)
        .map(|(a, f)| (a - f).powi(2))
        .sum::<f64>()
        / actual.len() as f64;
    let r = (mse / scale).sqrt();
    r.is_finite().then_some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed() {
        // Leading zeros are dropped: the series is 2, 4, 3, 3.
        // Differences 2, −1, 0 → squares 4, 1, 0 → scale 5/3.
        // Errors 1 − 3 = −2 and 5 − 3 = 2 → mean square 4.
        // RMSSE = √(4 / (5/3)) = √2.4.
        let r = rmsse(&[0.0, 0.0, 2.0, 4.0, 3.0, 3.0], &[1.0, 5.0], &[3.0, 3.0]).unwrap();
        assert!((r - 2.4f64.sqrt()).abs() < 1e-12, "{r}");
    }

    #[test]
    fn a_perfect_forecast_scores_zero() {
        assert_eq!(rmsse(&[1.0, 2.0], &[3.0], &[3.0]), Some(0.0));
    }

    #[test]
    fn undefined_scale_is_none() {
        assert_eq!(rmsse(&[], &[1.0], &[1.0]), None);
        assert_eq!(rmsse(&[0.0, 0.0], &[1.0], &[1.0]), None);
        assert_eq!(rmsse(&[0.0, 5.0], &[1.0], &[1.0]), None);
        assert_eq!(rmsse(&[2.0, 2.0, 2.0], &[1.0], &[1.0]), None);
        assert_eq!(rmsse(&[1.0, 2.0], &[], &[]), None);
        assert_eq!(rmsse(&[1.0, 2.0], &[1.0, 2.0], &[1.0]), None);
        assert_eq!(rmsse(&[1.0, 2.0], &[f64::NAN], &[1.0]), None);
    }
}
