//! The server's signing key, generated at first start and kept until an operator rotates it;
//! retired keys stay (public half only) so that the events they signed still verify.

use accord_storage::WriteBatch;
use serde::{Deserialize, Serialize};

use crate::{Db, Result, database::encode, tables::GLOBAL};

const SIGNING_KEY: &[u8] = b"signing_key";
const OLD_SIGNING_KEYS: &[u8] = b"old_signing_keys";

/// A stored ed25519 signing key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredSigningKey {
    /// Key version (the part after `ed25519:` in the key id).
    pub version: String,
    /// PKCS#8 document, base64.
    pub pkcs8: String,
}

/// A retired signing key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredOldKey {
    /// Key version.
    pub version: String,
    /// The public key, unpadded base64.
    pub public_key: String,
    /// When it was retired (ms since the epoch).
    pub expired_ts: u64,
}

impl Db {
    /// The retired signing keys, oldest first.
    pub fn get_old_signing_keys(&self) -> Result<Vec<StoredOldKey>> {
        Ok(self.get_json(GLOBAL, OLD_SIGNING_KEYS)?.unwrap_or_default())
    }

    /// Queues replacing the retired signing keys.
    pub fn put_old_signing_keys(&self, batch: &mut WriteBatch, keys: &[StoredOldKey]) {
        batch.put(GLOBAL, OLD_SIGNING_KEYS, encode(&keys));
    }

    /// The server's signing key, if one was generated.
    pub fn get_signing_key(&self) -> Result<Option<StoredSigningKey>> {
        self.get_json(GLOBAL, SIGNING_KEY)
    }

    /// Queues storing the signing key.
    pub fn put_signing_key(&self, batch: &mut WriteBatch, key: &StoredSigningKey) {
        batch.put(GLOBAL, SIGNING_KEY, encode(key));
    }
}
