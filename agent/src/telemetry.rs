//! Logging set-up shared by the jxc binaries: structured `tracing` events on
//! stderr, filtered by `JXC_LOG` (e.g. `JXC_LOG=debug`), coloured only on a
//! terminal.

use std::io::IsTerminal;

/// Installs the subscriber; `default` is the filter when `JXC_LOG` is unset.
pub fn init(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("JXC_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // A second call (tests) keeps the first subscriber.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
