//! The agent's one clock. `JXC_CLOCK_SKEW_MS` (signed milliseconds) shifts
//! it, so fault-schedule tests can run an agent whose clock is wrong the way a
//! dealer's PC often is; a value that is not an integer is ignored with a
//! warning rather than refusing to start a shop's agent.

use std::sync::OnceLock;

use chrono::{DateTime, Duration, FixedOffset, Local, SubsecRound};

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

/// Local time, to the millisecond, shifted by any configured skew.
pub fn now() -> DateTime<FixedOffset> {
    (Local::now().fixed_offset() + skew()).trunc_subsecs(3)
}
