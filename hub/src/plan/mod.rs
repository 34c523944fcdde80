//! Planning on the hub: each report reads what it needs from the store
//! (balances and the sales flow, never the movements) and hands it to pure
//! functions (`sunk.rs`; forecast models and stock-policy formulas that
//! every binary may use live in `jxc_shared::plan`). The CLI and the API
//! both call these, so they show the same figures.

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

/// Slow-moving and sunk stock as of `as_of`, grouped `by`, with the sites
/// whose data is stale (no sync within `stale_after_secs`, or never) named
/// on each row they affect: a plan is never silently computed on old data.
pub fn sunk(
    store: &Store,
    by: sunk::SunkBy,
    days: u32,
    as_of: NaiveDate,
    stale_after_secs: i64,
) -> Result<Vec<sunk::SunkRow>> {
    let stale = store
        .sites(Utc::now(), stale_after_secs)?
        .into_iter()
        .filter(|s| s.freshness != "fresh")
        .map(|s| s.id)
        .collect();
    let holdings = store.holdings_with_sales(as_of, days)?;
    Ok(sunk::report(&holdings, as_of, days, by, &stale))
}
