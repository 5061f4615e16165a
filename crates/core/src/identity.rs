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
    /// Keys this server signed with before rotating, published as `old_verify_keys` so that
    /// events they signed still verify.
    pub old_keys: Arc<Vec<OldVerifyKey>>,
}

/// A retired signing key: its public half and when it stopped signing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OldVerifyKey {
    /// `ed25519:<version>`.
    pub key_id: String,
    /// The raw 32-byte ed25519 public key.
    pub public_key: Vec<u8>,
    /// When the key was retired (ms since the epoch); events after it must not use it.
    pub expired_ts: u64,
}

impl std::fmt::Debug for ServerIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerIdentity")
            .field("server_name", &self.server_name)
            .field("key_id", &format!("ed25519:{}", self.key.version()))
            .finish()
    }
}
