//! Evaluates `shared::plan::forecast` against seasonal naive and the 4-week
//! same-weekday mean by M5's RMSSE, on the daily series that
//! `scripts/forecast_eval/prepare.py` writes.
//!
//! ```text
//! cargo run --release -p jxc-shared --example forecast_eval -- FILE \
//!     --as-of 2017-10-02 [--as-of 2017-11-06 …] [--horizon 28]
//! ```
//!
//! For each series and as-of day: fit on the days before it, forecast
//! `horizon` days from it, score each method by RMSSE against the actual
//! days; series whose scale is undefined (no sale, or nothing after the
//! first) are skipped for all methods alike. Prints, per level and as-of
//! day, the mean RMSSE of each method, jxc's ratio to seasonal naive, and
//! the mix of methods jxc chose.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Instant;

use chrono::{Datelike, NaiveDate};
use jxc_shared::plan::accuracy::rmsse;
use jxc_shared::plan::{Method, forecast, same_weekday_mean, seasonal_naive};

struct Series {
    level: String,
    values: Vec<f64>,
}

#[derive(Default)]
struct Tally {
    n: usize,
    jxc: f64,
    snaive: f64,
    swm: f64,
    /// Not a forecast: the actual mean of the horizon, flat. A reference for
    /// how much any flat forecast could gain.
    oracle: f64,
    methods: BTreeMap<&'static str, (usize, f64, f64)>,
    /// By mean daily demand over the last 91 days of training.
    buckets: [(usize, f64, f64); 4],
}

/// Upper bounds of the demand buckets (units a day).
const BUCKETS: [f64; 3] = [0.1, 0.5, 2.0];

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("forecast_eval: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let mut file = None;
    let mut as_of = Vec::new();
    let mut horizon = 28usize;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--as-of" => {
                let v = args.next().ok_or("--as-of needs a day (YYYY-MM-DD)")?;
                for day in v.split(',') {
                    as_of.push(
                        NaiveDate::parse_from_str(day, "%Y-%m-%d")
                            .map_err(|e| format!("--as-of {day:?}: {e}"))?,
                    );
                }
            }
            "--horizon" => {
                let v = args.next().ok_or("--horizon needs a number of days")?;
                horizon = v.parse().map_err(|e| format!("--horizon {v:?}: {e}"))?;
            }
            _ if file.is_none() => file = Some(a),
            _ => return Err(format!("unexpected argument {a:?}")),
        }
    }
    let file = file.ok_or("usage: forecast_eval FILE --as-of YYYY-MM-DD [--horizon 28]")?;
    if as_of.is_empty() {
        return Err("give at least one --as-of day".into());
    }

    let mut reader = csv::Reader::from_path(&file).map_err(|e| format!("{file}: {e}"))?;
    let header = reader
        .headers()
        .map_err(|e| format!("{file}: {e}"))?
        .clone();
    let first_day = header
        .get(3)
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .ok_or("the 4th header column is not the first day (YYYY-MM-DD)")?;
    let mut series = Vec::new();
    for row in reader.records() {
        let row = row.map_err(|e| format!("{file}: {e}"))?;
        let values = row
            .iter()
            .skip(3)
            .map(|v| {
                v.parse::<f64>()
                    .map_err(|e| format!("{file}: value {v:?}: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        series.push(Series {
            level: row[0].to_string(),
            values,
        });
    }
    eprintln!("{} series from {file}", series.len());

    for day in as_of {
        let cut = (day - first_day).num_days();
        let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
        let mut fit_time = 0.0f64;
        let mut fits = 0usize;
        for s in &series {
            let cut = usize::try_from(cut).map_err(|_| format!("{day} is before {first_day}"))?;
            if cut + horizon > s.values.len() {
                return Err(format!(
                    "{day} + {horizon} days is past the end of the data"
                ));
            }
            let (train, actual) = (&s.values[..cut], &s.values[cut..cut + horizon]);
            let started = Instant::now();
            let f = forecast(train, first_day.weekday(), horizon);
            fit_time += started.elapsed().as_secs_f64();
            fits += 1;
            let Some(jxc) = rmsse(train, actual, &f.daily) else {
                continue;
            };
            let snaive = rmsse(train, actual, &seasonal_naive(train, horizon))
                .ok_or("rmsse of seasonal naive undefined where jxc's is defined")?;
            let swm = rmsse(train, actual, &same_weekday_mean(train, 4, horizon))
                .ok_or("rmsse of same-weekday mean undefined where jxc's is defined")?;
            let mean_actual = actual.iter().sum::<f64>() / horizon as f64;
            let oracle = rmsse(train, actual, &vec![mean_actual; horizon])
                .ok_or("rmsse of the oracle undefined where jxc's is defined")?;
            let t = tallies.entry(s.level.clone()).or_default();
            t.n += 1;
            t.jxc += jxc;
            t.snaive += snaive;
            t.swm += swm;
            t.oracle += oracle;
            let recent = &train[train.len().saturating_sub(91)..];
            let mean = recent.iter().sum::<f64>() / recent.len().max(1) as f64;
            let b = BUCKETS
                .iter()
                .position(|&u| mean < u)
                .unwrap_or(BUCKETS.len());
            t.buckets[b].0 += 1;
            t.buckets[b].1 += jxc;
            t.buckets[b].2 += snaive;
            let m = t.methods.entry(f.method.as_str()).or_default();
            m.0 += 1;
            m.1 += jxc;
            m.2 += snaive;
        }
        for (level, t) in &tallies {
            let n = t.n as f64;
            println!(
                "as_of={day} level={level} series={} rmsse jxc={:.4} seasonal_naive={:.4} \
                 same_weekday_mean4={:.4} ratio_to_snaive jxc={:.3} swm4={:.3} \
                 (oracle_flat={:.3})",
                t.n,
                t.jxc / n,
                t.snaive / n,
                t.swm / n,
                t.jxc / t.snaive,
                t.swm / t.snaive,
                t.oracle / t.snaive,
            );
            let mix: Vec<String> = Method::ALL
                .iter()
                .filter_map(|m| {
                    let (c, j, s) = t.methods.get(m.as_str())?;
                    // The ratio of jxc to seasonal naive on the series where
                    // jxc chose this method (none where naive scored 0).
                    let ratio = if *s > 0.0 {
                        format!("{:.3}x", j / s)
                    } else {
                        "-".into()
                    };
                    Some(format!(
                        "{}={:.1}% ({ratio})",
                        m.as_str(),
                        100.0 * *c as f64 / n,
                    ))
                })
                .collect();
            println!("    methods: {}", mix.join(" "));
            let names = ["<0.1/day", "0.1-0.5/day", "0.5-2/day", ">=2/day"];
            let by: Vec<String> = t
                .buckets
                .iter()
                .zip(names)
                .filter(|(b, _)| b.0 > 0)
                .map(|((c, j, s), name)| {
                    format!(
                        "{name}: {c} series, jxc {:.3} ({:.3}x)",
                        j / *c as f64,
                        j / s
                    )
                })
                .collect();
            println!("    by demand: {}", by.join("; "));
        }
        println!(
            "    forecast: {fits} calls, {:.2} µs each (this binary, one thread)",
            1e6 * fit_time / fits.max(1) as f64
        );
    }
    Ok(())
}
