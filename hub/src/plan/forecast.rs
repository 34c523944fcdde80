//! Demand forecasts per series and their backtest, from the hub's daily
//! sales: the series are made dense here, the models are
//! `jxc_shared::plan::forecast`. Pure.

use crate::store::DemandSeries;
use chrono::{Datelike, Duration, NaiveDate};
use jxc_shared::plan::{self, Method};
use rust_decimal::Decimal;

/// Days of history a forecast is fitted on (the models use at most 1,024).
pub const HISTORY_DAYS: i64 = 728;

/// The most days ahead a plan forecasts.
pub const MAX_HORIZON: u32 = 366;

/// Net units per day from the series' first sale to the day before `to`,
/// with its first day; empty (and `None`) without a sale before `to`.
pub fn dense(days: &[(NaiveDate, i64)], to: NaiveDate) -> (Option<NaiveDate>, Vec<f64>) {
    let Some(start) = days.iter().map(|d| d.0).find(|d| *d < to) else {
        return (None, Vec::new());
    };
    let n = (to - start).num_days().max(0) as usize;
    (Some(start), actual(days, start, n))
}

/// Units per day of `[from, from + n)`.
fn actual(days: &[(NaiveDate, i64)], from: NaiveDate, n: usize) -> Vec<f64> {
    let mut v = vec![0.0; n];
    for (d, q) in days {
        let i = (*d - from).num_days();
        if (0..n as i64).contains(&i) {
            v[i as usize] += *q as f64 / 1e6;
        }
    }
    v
}

/// A series' forecast for the `horizon` days from `as_of`, on its history
/// before `as_of` only.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesForecast {
    pub site: String,
    pub keys: [String; 2],
    pub method: Method,
    /// The series had no sale before `as_of`: its forecast is 0.
    pub no_history: bool,
    /// One qty per day from `as_of`, rounded to 3 places.
    pub daily: Vec<(NaiveDate, Decimal)>,
    /// The sd of a one-day forecast error, for safety stock.
    pub error_sd: f64,
}

fn qty(v: f64) -> Decimal {
    Decimal::from_f64_retain(v)
        .unwrap_or_default()
        .round_dp(3)
        .normalize()
}

pub fn forecast(series: &DemandSeries, as_of: NaiveDate, horizon: u32) -> SeriesForecast {
    let (start, history) = dense(&series.days, as_of);
    let first = start.map_or(as_of.weekday(), |d| d.weekday());
    let f = plan::forecast(&history, first, horizon as usize);
    SeriesForecast {
        site: series.site.clone(),
        keys: series.keys.clone(),
        method: f.method,
        no_history: f.no_history || start.is_none(),
        daily: f
            .daily
            .iter()
            .enumerate()
            .map(|(i, v)| (as_of + Duration::days(i as i64), qty(*v)))
            .collect(),
        error_sd: f.error_sd,
    }
}

/// How a series' forecast from `as_of` did on the `horizon` days after it.
#[derive(Debug, Clone, PartialEq)]
pub struct Backtest {
    pub site: String,
    pub keys: [String; 2],
    pub method: Method,
    /// M5's RMSSE of jxc's forecast and of seasonal naive; `None` when the
    /// series' scale is 0 (constant history).
    pub rmsse: Option<f64>,
    pub naive_rmsse: Option<f64>,
    /// Units forecast and sold over the horizon.
    pub forecast_total: f64,
    pub actual_total: f64,
}

pub fn backtest(series: &DemandSeries, as_of: NaiveDate, horizon: u32) -> Backtest {
    let h = horizon as usize;
    let (start, history) = dense(&series.days, as_of);
    let train: Vec<f64> = history.iter().map(|v| v.max(0.0)).collect();
    let first = start.map_or(as_of.weekday(), |d| d.weekday());
    let f = plan::forecast(&train, first, h);
    let naive = plan::seasonal_naive(&train, h);
    let actual = actual(&series.days, as_of, h);
    Backtest {
        site: series.site.clone(),
        keys: series.keys.clone(),
        method: f.method,
        rmsse: plan::accuracy::rmsse(&train, &actual, &f.daily),
        naive_rmsse: plan::accuracy::rmsse(&train, &actual, &naive),
        forecast_total: f.daily.iter().sum(),
        actual_total: actual.iter().sum(),
    }
}

/// The mean RMSSE of jxc and of seasonal naive over the series where both
/// are defined, and how many those are.
pub fn overall<'a>(
    tests: impl IntoIterator<Item = &'a Backtest>,
) -> (Option<f64>, Option<f64>, usize) {
    let both: Vec<(f64, f64)> = tests
        .into_iter()
        .filter_map(|t| Some((t.rmsse?, t.naive_rmsse?)))
        .collect();
    if both.is_empty() {
        return (None, None, 0);
    }
    let n = both.len() as f64;
    (
        Some(both.iter().map(|b| b.0).sum::<f64>() / n),
        Some(both.iter().map(|b| b.1).sum::<f64>() / n),
        both.len(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, d).unwrap()
    }

    fn series(days: &[(u32, i64)]) -> DemandSeries {
        DemandSeries {
            site: "BJ01".into(),
            keys: ["BJ01".into(), "TEA".into()],
            days: days.iter().map(|&(d, q)| (day(d), q * 1_000_000)).collect(),
        }
    }

    #[test]
    fn a_series_is_dense_from_its_first_sale_to_the_day_before_as_of() {
        let s = series(&[(3, 2), (5, 1), (9, 4)]);
        let (start, v) = dense(&s.days, day(9));
        assert_eq!(start, Some(day(3)));
        assert_eq!(v, [2.0, 0.0, 1.0, 0.0, 0.0, 0.0]);
        assert_eq!(dense(&s.days, day(3)), (None, vec![]));
    }

    #[test]
    fn a_series_without_history_is_forecast_zero_and_marked() {
        let f = forecast(&series(&[]), day(10), 7);
        assert!(f.no_history);
        assert_eq!(f.daily.len(), 7);
        assert!(f.daily.iter().all(|(_, q)| q.is_zero()));
        assert_eq!(f.daily[0].0, day(10));
        // Only sales on or after as-of: no history either.
        let f = forecast(&series(&[(12, 5)]), day(10), 3);
        assert!(f.no_history && f.daily.iter().all(|(_, q)| q.is_zero()));
    }

    #[test]
    fn a_steady_series_is_forecast_near_its_rate_and_backtests_well() {
        let days: Vec<(u32, i64)> = (1..=28).map(|d| (d, 3)).collect();
        let s = series(&days);
        let f = forecast(&s, day(22), 7);
        assert!(!f.no_history);
        for (_, q) in &f.daily {
            assert!((*q - Decimal::from(3)).abs() < Decimal::new(5, 1), "{q}");
        }
        let b = backtest(&s, day(22), 7);
        assert_eq!(b.actual_total, 21.0);
        // A constant history has no scale: RMSSE is undefined, not NaN.
        assert_eq!((b.rmsse, b.naive_rmsse), (None, None));
        assert_eq!(overall(&[b]), (None, None, 0));
    }
}
