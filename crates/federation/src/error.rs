//! Federation errors.

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong talking to, or verifying, another server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server name could not be resolved to an address.
    #[error("cannot resolve {server}: {reason}")]
    Resolve { server: String, reason: String },
    /// The request failed in transport (connect, TLS, timeout).
    #[error("request to {server} failed: {reason}")]
    Transport { server: String, reason: String },
    /// The remote server answered with an error.
    #[error("{server} answered {status}: {body}")]
    Remote { server: String, status: u16, body: String },
    /// The remote answer could not be understood.
    #[error("bad response from {server}: {reason}")]
    BadResponse { server: String, reason: String },
    /// An inbound request's `X-Matrix` authentication is missing or invalid.
    #[error("{0}")]
    Unauthorized(String),
    /// The server is not allowed by `federation.allowed_servers` / `denied_servers`.
    #[error("{0}")]
    Forbidden(String),
    /// TLS configuration (CA file) is unusable.
    #[error("TLS: {0}")]
    Tls(String),
    /// A URL preview may not fetch this (a blocked address, scheme, size or redirect).
    #[error("{0}")]
    Blocked(String),
    /// A configuration value is unusable.
    #[error("{0}")]
    Config(String),
}
