//! Room errors: what was wrong with an event or a request about a room.

/// Result alias for room operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a room operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The room is unknown to this server.
    #[error("room {0} not found")]
    RoomNotFound(String),
    /// The event failed the room version's authorization rules.
    #[error("{0}")]
    Unauthorized(String),
    /// The event content or shape is invalid.
    #[error("{0}")]
    InvalidEvent(String),
    /// The event's prev events are not (all) stored here, or stored without state: fetch them
    /// (`/get_missing_events`) and retry.
    #[error("prev events unknown here: {0:?}")]
    MissingPrevEvents(Vec<ruma::OwnedEventId>),
    /// The room version is not supported.
    #[error("room version {0} is not supported")]
    UnsupportedVersion(String),
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] accord_db::Error),
    /// The event would be larger than the spec's 65536 bytes.
    #[error("the event would be larger than the spec's limit of 65536 bytes")]
    TooLarge,
    /// Signing or hashing failed (a bug or an impossible event).
    #[error("signing failed: {0}")]
    Signing(String),
    /// A background task (the fsync of a group commit) failed.
    #[error("{0}")]
    Internal(String),
}
