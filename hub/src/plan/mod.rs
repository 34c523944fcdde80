//! Planning on the hub: each report reads what it needs from the store
//! (balances and the sales flow, never the movements) and hands it to pure
//! functions (`sunk.rs`; forecast models and stock-policy formulas that
//! every binary may use live in `jxc_shared::plan`). The CLI and the API
//! both call these, so they show the same figures.

pub mod config;
pub mod forecast;
pub mod policy;
pub mod reorder;
pub mod sunk;

use crate::error::{HubError, Result};
use crate::store::Store;
use chrono::{NaiveDate, Utc};

/// The as-of day of a plan: given, or today in the hub's zone.
pub fn as_of(given: Option<&str>) -> Result<NaiveDate> {
    match given {
        Some(d) => Ok(jxc_shared::time::parse_date("as_of", d)?),
        None => Ok(chrono::Local::now().date_naive()),
    }
}

/// A plan's window in days: 1 to 3,660.
pub fn check_days(days: u32) -> Result<u32> {
    if (1..=3660).contains(&days) {
        Ok(days)
    } else {
        Err(HubError::Invalid(format!(
            "days {days} is not valid: use 1 to 3660"
        )))
    }
}

/// Slow-moving and sunk stock as of `as_of` (of one site, if given),
/// grouped `by`, with the sites
/// whose data is stale (no sync within `stale_after_secs`, or never) named
/// on each row they affect: a plan is never silently computed on old data.
pub fn sunk(
    store: &Store,
    site: Option<&str>,
    by: sunk::SunkBy,
    days: u32,
    as_of: NaiveDate,
    stale_after_secs: i64,
) -> Result<Vec<sunk::SunkRow>> {
    let stale = stale_sites(store, stale_after_secs)?;
    let holdings = store.holdings_with_sales(site, as_of, days)?;
    Ok(sunk::report(&holdings, as_of, days, by, &stale))
}

/// A forecast horizon in days: 1 to [`forecast::MAX_HORIZON`].
pub fn check_horizon(days: u32) -> Result<u32> {
    if (1..=forecast::MAX_HORIZON).contains(&days) {
        Ok(days)
    } else {
        Err(HubError::Invalid(format!(
            "horizon {days} is not valid: use 1 to {} days",
            forecast::MAX_HORIZON
        )))
    }
}

/// The sites whose data is stale (no sync within `stale_after_secs`) or
/// that never synced.
fn stale_sites(store: &Store, stale_after_secs: i64) -> Result<std::collections::BTreeSet<String>> {
    Ok(store
        .sites(Utc::now(), stale_after_secs)?
        .into_iter()
        .filter(|s| s.freshness != "fresh")
        .map(|s| s.id)
        .collect())
}

/// The demand series of `by` (of one site, if given) with the history a
/// forecast from `as_of` may use, and through `until` (exclusive).
fn series(
    store: &Store,
    by: crate::store::SeriesBy,
    of: &crate::store::SeriesOf,
    as_of: NaiveDate,
    until: NaiveDate,
) -> Result<Vec<crate::store::DemandSeries>> {
    let from = as_of - chrono::Duration::days(forecast::HISTORY_DAYS);
    store.demand(by, of, from, until)
}

/// Each series' forecast for the `horizon` days from `as_of`, from its
/// history before `as_of` only, with whether its site's data is stale.
pub fn forecasts(
    store: &Store,
    by: crate::store::SeriesBy,
    of: &crate::store::SeriesOf,
    as_of: NaiveDate,
    horizon: u32,
    stale_after_secs: i64,
) -> Result<Vec<(forecast::SeriesForecast, bool)>> {
    let stale = stale_sites(store, stale_after_secs)?;
    Ok(series(store, by, of, as_of, as_of)?
        .iter()
        .map(|s| {
            (
                forecast::forecast(s, as_of, horizon),
                stale.contains(&s.site),
            )
        })
        .collect())
}

/// How each series' forecast from `as_of` did over the `horizon` days
/// after it, against seasonal naive, with whether its site is stale.
pub fn backtests(
    store: &Store,
    by: crate::store::SeriesBy,
    of: &crate::store::SeriesOf,
    as_of: NaiveDate,
    horizon: u32,
    stale_after_secs: i64,
) -> Result<Vec<(forecast::Backtest, bool)>> {
    let stale = stale_sites(store, stale_after_secs)?;
    let until = as_of + chrono::Duration::days(i64::from(horizon));
    Ok(series(store, by, of, as_of, until)?
        .iter()
        .map(|s| {
            (
                forecast::backtest(s, as_of, horizon),
                stale.contains(&s.site),
            )
        })
        .collect())
}

/// Each series' forecast for the `horizon` days from `as_of` (on its
/// history before `as_of`) with how it did over those days, from one read
/// of the series: what [`forecasts`] and [`backtests`] give apart, for a
/// page showing both. A series with sales only after `as_of` is in it, with
/// a forecast of 0 marked `no_history`.
pub fn forecasts_against_actual(
    store: &Store,
    by: crate::store::SeriesBy,
    of: &crate::store::SeriesOf,
    as_of: NaiveDate,
    horizon: u32,
    stale_after_secs: i64,
) -> Result<Vec<(forecast::SeriesForecast, forecast::Backtest, bool)>> {
    let stale = stale_sites(store, stale_after_secs)?;
    let until = as_of + chrono::Duration::days(i64::from(horizon));
    Ok(series(store, by, of, as_of, until)?
        .iter()
        .map(|s| {
            (
                forecast::forecast(s, as_of, horizon),
                forecast::backtest(s, as_of, horizon),
                stale.contains(&s.site),
            )
        })
        .collect())
}

/// Reorder suggestions of every line (of one site) as of `params.as_of`:
/// the policy of each line, those at or below their reorder point, with
/// HQ's stock to fill them from.
pub fn reorder(
    store: &Store,
    config: &crate::config::HubConfig,
    site: Option<&str>,
    params: &policy::PolicyParams,
) -> Result<Vec<reorder::Suggestion>> {
    let rows = policy::policy(store, config, site, None, params)?;
    reorder_of(store, &rows, params.as_of)
}

/// The reorder suggestions of policy rows already computed as of `as_of`
/// (as [`reorder`] makes them), so a page showing both computes the policy
/// once; each with the planners' decision on it for that day.
pub fn reorder_of(
    store: &Store,
    rows: &[policy::PolicyRow],
    as_of: NaiveDate,
) -> Result<Vec<reorder::Suggestion>> {
    let (hq_sites, held) = store.hq_stock()?;
    let mut stock = reorder::HqStock::new();
    for (site, location, sku, qty) in held {
        stock.entry(sku).or_default().push((
            site,
            location,
            rust_decimal::Decimal::new(qty, 6).normalize(),
        ));
    }
    let mut suggestions = reorder::suggest(rows, &hq_sites, &stock);
    let sites: std::collections::BTreeSet<&str> =
        suggestions.iter().map(|s| s.policy.site.as_str()).collect();
    let site = match sites.len() {
        1 => sites.first().copied(),
        _ => None,
    };
    let mut decided: std::collections::HashMap<
        (String, String, String),
        crate::store::PlanDecision,
    > = store
        .decisions(site, as_of)?
        .into_iter()
        .map(|d| ((d.site.clone(), d.location.clone(), d.sku.clone()), d))
        .collect();
    for s in &mut suggestions {
        let key = (
            s.policy.site.clone(),
            s.policy.location.clone(),
            s.policy.sku.clone(),
        );
        s.decision = decided.remove(&key);
    }
    Ok(suggestions)
}
