//! Why a server could not start.

/// A start-up failure, with a message that names the problem and the fix.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Storage could not be opened (in use, unwritable, corrupt).
    #[error(transparent)]
    Storage(#[from] accord_storage::Error),
    /// The database refused to open (newer schema, corrupt metadata).
    #[error(transparent)]
    Db(#[from] accord_db::Error),
    /// The services could not start (e.g. the signing key is unreadable).
    #[error(transparent)]
    Services(#[from] accord_service::Error),
    /// A listener could not bind.
    #[error("cannot listen on {addr} ({which} API): {source}; is another server using the port?")]
    Bind {
        which: &'static str,
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    /// TLS material could not be loaded.
    #[error("TLS: {0}")]
    Tls(String),
    /// The configuration is inconsistent.
    #[error("config: {0}")]
    Config(String),
}
