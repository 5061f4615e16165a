//! Errors from the typed stores.

/// Result alias for database operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong reading or writing typed records.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The engine failed.
    #[error(transparent)]
    Storage(#[from] accord_storage::Error),
    /// A stored value did not parse; the database is damaged or was written by a buggy version.
    #[error("corrupt value in table `{table}`: {reason}")]
    Corrupt { table: &'static str, reason: String },
    /// The database was written by a newer Accord.
    #[error(
        "database schema version {found} is newer than this Accord supports ({supported}); run the newer Accord or restore a backup"
    )]
    NewerSchema { found: u64, supported: u64 },
    /// An earlier write could not be made durable; writes are refused until a restart.
    #[error(
        "storage failed to make writes durable ({0}); writes are refused until Accord restarts: check the disk, then restart"
    )]
    StorageFailed(String),
    /// A record that must exist does not.
    #[error("{0} not found")]
    NotFound(&'static str),
}
