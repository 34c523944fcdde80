//! jxc-runtime: what both binaries run with and neither owns — the logging
//! set-up, the SIGINT/SIGTERM shutdown signal, the `--json`/`--csv` list
//! flags, and reading CSV files as Excel saves them (any of UTF-8, GB18030,
//! a BOM's encoding; gzip). The hub depends on this, not on the agent, for
//! them. No ledger, no store, no domain rules: those live in `jxc-shared`
//! and in the binary that owns them.

pub mod cli;
pub mod csv_file;
pub mod shutdown;
pub mod telemetry;
