//! jxc-agent: a site's local stock ledger (SQLite), its bulk importers and its
//! command line. The binary in `main.rs` is a thin wrapper over [`cli::run`].

pub mod cli;
pub mod cli_docs;
pub mod clock;
pub mod config;
pub mod error;
pub mod import;
pub mod store;
pub mod sync;
pub mod tls;

pub use error::{AgentError, Result};
pub use store::Store;
