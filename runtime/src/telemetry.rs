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

/// As [`init`], with each `quiet` target held to errors unless `JXC_LOG`
/// names it. The hub quiets `rustls`, which warns once per connection about
/// what a client sent (an IP address as TLS server name, say): the client's
/// doing, not the operator's, and a line per connection floods the log.
pub fn init_quieting(default: &str, quiet: &[&str]) {
    let spec = std::env::var("JXC_LOG")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| default.to_owned());
    let mut filter = tracing_subscriber::EnvFilter::try_new(&spec)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    for target in quiet.iter().filter(|t| !spec.contains(**t)) {
        if let Ok(directive) = format!("{target}=error").parse() {
            filter = filter.add_directive(directive);
        }
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
