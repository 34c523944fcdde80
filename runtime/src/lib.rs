//! jxc-runtime: what both binaries run with and neither owns — the logging
//! set-up, the SIGINT/SIGTERM shutdown signal and the `--json`/`--csv` list
//! flags. The hub depends on this, not on the agent, for them. No ledger,
//! no store, no domain rules: those live in `jxc-shared` and in the binary
//! that owns them.

pub mod cli;
pub mod shutdown;
pub mod telemetry;
