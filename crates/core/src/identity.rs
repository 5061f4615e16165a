//! `ServerIdentity`: this server's name and its ed25519 signing key, which signs every event
//! and federation request it originates.

use std::sync::Arc;

use ruma::{OwnedServerName, signatures::Ed25519KeyPair};

/// The server's name and signing key. Cheap to clone.
#[derive(Clone)]
pub struct ServerIdentity {
    /// `server_name` from the configuration.
    pub server_name: OwnedServerName,
    /// The current signing key (its version is the key id after `ed25519:`).
    pub key: Arc<Ed25519KeyPair>,
}

impl std::fmt::Debug for ServerIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerIdentity")
            .field("server_name", &self.server_name)
            .field("key_id", &format!("ed25519:{}", self.key.version()))
            .finish()
    }
}
