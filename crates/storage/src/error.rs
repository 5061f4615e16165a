//! Errors an engine reports. Callers above `accord-db` never see engine-specific types.

use std::path::PathBuf;

/// Result alias for storage operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong talking to the key-value engine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Another process (or another engine instance in this process) holds the database lock.
    #[error(
        "database at {path} is already in use by another process; stop the other Accord (or `accord` command) using it first"
    )]
    InUse { path: PathBuf },
    /// The directory can't be created or written.
    #[error("database path {path} is not usable: {reason}")]
    Path { path: PathBuf, reason: String },
    /// A table name that the catalog did not declare.
    #[error("unknown table `{0}` (not declared in the catalog)")]
    UnknownTable(&'static str),
    /// A stored key did not decode with the codec its table declares.
    #[error("corrupt key in table `{table}`: {reason}")]
    CorruptKey { table: &'static str, reason: String },
    /// Any other engine failure (I/O, corruption) with the engine's own message.
    #[error("storage engine error: {0}")]
    Engine(String),
}
