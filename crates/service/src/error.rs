//! The client-facing decision for every failure: a Matrix error kind and a message, or a UIA
//! challenge. `accord-api` maps these to HTTP statuses in exactly one place.

use ruma::api::{client::uiaa::UiaaInfo, error::ErrorKind};

/// Result alias for service calls.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a request failed, as the client will be told.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A Matrix error (`errcode` from `kind`) with a message meant for people.
    #[error("{message}")]
    Request {
        /// The error code.
        kind: ErrorKind,
        /// What went wrong and, where possible, how to fix it.
        message: String,
    },
    /// User-interactive authentication must continue (401 with flows and completed stages).
    #[error("user-interactive authentication required")]
    Uiaa(Box<UiaaInfo>),
    /// The resource already exists (409, `M_UNKNOWN`), e.g. a taken room alias.
    #[error("{0}")]
    Conflict(String),
    /// Storage failed; the client sees a generic 500.
    #[error(transparent)]
    Db(#[from] accord_db::Error),
    /// A bug or an unexpected condition; the client sees a generic 500.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// A Matrix error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self::Request {
            kind,
            message: message.into(),
        }
    }

    /// `M_FORBIDDEN`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, message)
    }

    /// `M_NOT_FOUND`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    /// `M_INVALID_PARAM`.
    pub fn invalid_param(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidParam, message)
    }

    /// `M_BAD_STATE`.
    pub fn bad_state(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadState, message)
    }

    /// `M_BAD_JSON`.
    pub fn bad_json(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadJson, message)
    }

    /// An error whose code ruma has no variant for (e.g. `M_INVALID_SIGNATURE`).
    pub fn with_errcode(errcode: &str, message: impl Into<String>) -> Self {
        let kind = serde_json::from_value(serde_json::json!({ "errcode": errcode })).unwrap_or(ErrorKind::Unknown);
        Self::new(kind, message)
    }

    /// The Matrix error kind, when this is a request error.
    pub fn kind(&self) -> Option<&ErrorKind> {
        match self {
            Self::Request { kind, .. } => Some(kind),
            _ => None,
        }
    }
}

impl From<tokio::task::JoinError> for Error {
    fn from(err: tokio::task::JoinError) -> Self {
        Self::Internal(format!("blocking task failed: {err}"))
    }
}
