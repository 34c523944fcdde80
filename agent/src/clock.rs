//! The agent's one clock, in the site's time zone. `JXC_CLOCK_SKEW_MS`
//! (signed milliseconds) shifts it, so fault-schedule tests can run an agent
//! whose clock is wrong the way a dealer's PC often is; a value that is not
//! an integer is ignored with a warning rather than refusing to start a
//! shop's agent.
//!
//! The zone is the config's `time_zone` ([`set_zone`], once at start), else
//! the system's (`TZ`, then the OS setting), else UTC: a shop's PC with an
//! odd setting still runs, and says which zone it uses in `status`.

use std::sync::OnceLock;

use chrono::{DateTime, Duration, FixedOffset, SubsecRound, Utc};
use chrono_tz::Tz;

pub const SKEW_ENV: &str = "JXC_CLOCK_SKEW_MS";

fn skew() -> Duration {
    static SKEW: OnceLock<Duration> = OnceLock::new();
    *SKEW.get_or_init(|| match std::env::var(SKEW_ENV) {
        Ok(v) => match v.trim().parse::<i64>() {
            Ok(ms) => Duration::milliseconds(ms),
            Err(_) => {
                tracing::warn!(value = %v, "{SKEW_ENV} is not an integer; ignored");
                Duration::zero()
            }
        },
        Err(_) => Duration::zero(),
    })
}

static ZONE: OnceLock<Tz> = OnceLock::new();

/// Sets the site's time zone from its configuration. Only the first call
/// counts: one process serves one site.
pub fn set_zone(zone: Tz) {
    let _ = ZONE.set(zone);
}

/// The system's time zone: `TZ` if it names one, else the OS setting, else UTC.
pub fn system_zone() -> Tz {
    let from_tz = std::env::var("TZ")
        .ok()
        .and_then(|v| v.trim().trim_start_matches(':').parse::<Tz>().ok());
    from_tz
        .or_else(|| {
            iana_time_zone::get_timezone()
                .ok()
                .and_then(|n| n.parse::<Tz>().ok())
        })
        .unwrap_or(chrono_tz::UTC)
}

/// The site's time zone: configured, else the system's.
pub fn zone() -> Tz {
    *ZONE.get_or_init(system_zone)
}

/// Now in the site's time zone, to the millisecond, shifted by any
/// configured skew.
pub fn now() -> DateTime<FixedOffset> {
    (Utc::now() + skew())
        .with_timezone(&zone())
        .fixed_offset()
        .trunc_subsecs(3)
}
