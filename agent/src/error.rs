//! The agent library's error type and the process exit code each maps to.

use jxc_runtime::csv_file::{CsvError, RowError};
use jxc_shared::DomainError;
use std::path::PathBuf;

/// Exit codes, documented in the README ("Exit codes").
pub mod exit {
    pub const FAILURE: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const INVALID: u8 = 3;
    pub const REFUSED: u8 = 4;
    pub const DATA_DIR: u8 = 5;
    pub const MISMATCH: u8 = 6;
    pub const UNREACHABLE: u8 = 7;
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// A value the user gave is malformed or names something unknown.
    #[error("{0}")]
    Invalid(#[from] DomainError),
    /// A well-formed request that the ledger's rules refuse (not enough stock).
    #[error("{} {:?} refused: {}", .0.field, .0.value, .0.reason)]
    Refused(DomainError),
    /// The request conflicts with what exists (a duplicate id, no open count).
    #[error("{0}")]
    Conflict(String),
    /// The data directory is missing, not a ledger, or from a newer version.
    #[error("{0}")]
    DataDir(String),
    /// Another process held the ledger longer than the busy timeout.
    #[error("the ledger stayed busy (another jxc-agent is writing to it); try again")]
    Busy,
    /// `verify` found the balances and the ledger disagree.
    #[error("{0}")]
    Mismatch(String),
    /// An import file had bad rows; each was reported as it was found.
    #[error("{0}")]
    BadFile(String),
    /// The hub could not be reached (network, TLS, timeout).
    #[error("could not reach the hub: {0}")]
    Unreachable(String),
    /// The hub answered and refused (revoked, bad token, bad request).
    #[error("the hub refused: {0}")]
    HubRefused(String),
    #[error("database error: {0}")]
    Db(rusqlite::Error),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl From<rusqlite::Error> for AgentError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                AgentError::Busy
            }
            _ => AgentError::Db(e),
        }
    }
}

impl From<CsvError> for AgentError {
    fn from(e: CsvError) -> Self {
        match e {
            CsvError::Invalid(e) => AgentError::Invalid(e),
            CsvError::BadFile(m) => AgentError::BadFile(m),
            CsvError::Io { path, source } => AgentError::Io { path, source },
        }
    }
}

/// A row of a small import file refused as invalid, by a ledger rule or as
/// conflicting with what exists is reported with its line, and the file
/// refused once every row was read.
impl RowError for AgentError {
    fn is_bad_row(&self) -> bool {
        self.is_row_error() || matches!(self, AgentError::Conflict(_))
    }
}

impl AgentError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        AgentError::Io {
            path: path.into(),
            source,
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            AgentError::Invalid(_) | AgentError::BadFile(_) => exit::INVALID,
            AgentError::Refused(_) | AgentError::Conflict(_) | AgentError::HubRefused(_) => {
                exit::REFUSED
            }
            AgentError::Unreachable(_) => exit::UNREACHABLE,
            AgentError::DataDir(_) | AgentError::Busy => exit::DATA_DIR,
            AgentError::Mismatch(_) => exit::MISMATCH,
            AgentError::Db(_) | AgentError::Io { .. } => exit::FAILURE,
        }
    }

    /// Whether this error is about one input row (bad value or refused by a
    /// rule), so an import reports it and goes on, rather than stopping.
    pub fn is_row_error(&self) -> bool {
        matches!(self, AgentError::Invalid(_) | AgentError::Refused(_))
    }
}

pub type Result<T, E = AgentError> = std::result::Result<T, E>;
