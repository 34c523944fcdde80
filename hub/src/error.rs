//! The hub's error type: one enum for the library, mapped both to a process
//! exit code (CLI) and to an HTTP response that never leaks internals.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jxc_shared::DomainError;
use jxc_shared::protocol::ProtocolError;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    DataDir(String),
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error("database error: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Internal(String),
}

pub type Result<T, E = HubError> = std::result::Result<T, E>;

impl HubError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        HubError::Io {
            path: path.into(),
            source,
        }
    }

    /// Exit codes, as for jxc-agent: 1 failure, 3 invalid input, 4 refused,
    /// 5 data directory problem.
    pub fn exit_code(&self) -> u8 {
        match self {
            HubError::Invalid(_) | HubError::Domain(_) | HubError::Protocol(_) => 3,
            HubError::Unauthorized(_)
            | HubError::Forbidden(_)
            | HubError::Conflict(_)
            | HubError::NotFound(_) => 4,
            HubError::DataDir(_) => 5,
            HubError::Db(_) | HubError::Io { .. } | HubError::Internal(_) => 1,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            HubError::Invalid(_) | HubError::Domain(_) | HubError::Protocol(_) => {
                StatusCode::BAD_REQUEST
            }
            HubError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            HubError::Forbidden(_) => StatusCode::FORBIDDEN,
            HubError::NotFound(_) => StatusCode::NOT_FOUND,
            HubError::Conflict(_) => StatusCode::CONFLICT,
            HubError::DataDir(_)
            | HubError::Db(_)
            | HubError::Io { .. }
            | HubError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for HubError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
            "internal error; the hub's log has the details".to_owned()
        } else {
            self.to_string()
        };
        (status, Json(serde_json::json!({ "error": message }))).into_response()
    }
}
