//! Errors of the search index.

use std::path::PathBuf;

/// What can go wrong with the index.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The index directory can't be created.
    #[error("cannot create the search index directory {path}: {source}")]
    Directory {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// tantivy failed (I/O, a corrupt segment, a full disk).
    #[error("search index: {0}")]
    Index(String),
}

impl From<tantivy::TantivyError> for Error {
    fn from(err: tantivy::TantivyError) -> Self {
        Self::Index(err.to_string())
    }
}

/// The index's results.
pub type Result<T> = std::result::Result<T, Error>;
