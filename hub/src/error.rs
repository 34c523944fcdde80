//! The hub's error type: one enum for the library, mapped both to a process
//! exit code (CLI) and to an HTTP response that never leaks internals.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
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
    #[error("database error: {0}")]
    Pg(#[from] tokio_postgres::Error),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Internal(String),
    /// A request body over its route's limit (413).
    #[error("{0}")]
    TooLarge(String),
    /// A request body that did not arrive within the body timeout (408).
    #[error("{0}")]
    Timeout(String),
    /// Every upload slot stayed taken past the body timeout (503).
    #[error("{0}")]
    Busy(String),
    /// A filter that names no SKU, site or region the hub knows: invalid
    /// input at the command line (3), a well-formed query for something
    /// absent over HTTP (404).
    #[error("{0}")]
    UnknownName(String),
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
            HubError::Invalid(_)
            | HubError::Domain(_)
            | HubError::Protocol(_)
            | HubError::TooLarge(_)
            | HubError::UnknownName(_) => 3,
            HubError::Unauthorized(_)
            | HubError::Forbidden(_)
            | HubError::Conflict(_)
            | HubError::NotFound(_) => 4,
            HubError::DataDir(_) => 5,
            HubError::Db(_)
            | HubError::Pg(_)
            | HubError::Io { .. }
            | HubError::Internal(_)
            | HubError::Timeout(_)
            | HubError::Busy(_) => 1,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            HubError::Invalid(_) | HubError::Domain(_) | HubError::Protocol(_) => {
                StatusCode::BAD_REQUEST
            }
            HubError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            HubError::Forbidden(_) => StatusCode::FORBIDDEN,
            HubError::NotFound(_) | HubError::UnknownName(_) => StatusCode::NOT_FOUND,
            HubError::Conflict(_) => StatusCode::CONFLICT,
            HubError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            HubError::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            HubError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            HubError::DataDir(_)
            | HubError::Db(_)
            | HubError::Pg(_)
            | HubError::Io { .. }
            | HubError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for HubError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = if status.is_server_error() && !matches!(self, HubError::Busy(_)) {
            tracing::error!(error = %self, "request failed");
            "internal error; the hub's log has the details".to_owned()
        } else {
            self.to_string()
        };
        let mut response = (status, Json(serde_json::json!({ "error": message }))).into_response();
        if matches!(self, HubError::Busy(_)) {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}
