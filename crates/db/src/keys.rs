//! The server's signing key, generated at first start and kept for the life of the database.

use accord_storage::WriteBatch;
use serde::{Deserialize, Serialize};

use crate::{Db, Result, database::encode, tables::GLOBAL};

const SIGNING_KEY: &[u8] = b"signing_key";

/// A stored ed25519 signing key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredSigningKey {
    /// Key version (the part after `ed25519:` in the key id).
    pub version: String,
    /// PKCS#8 document, base64.
    pub pkcs8: String,
}

impl Db {
    /// The server's signing key, if one was generated.
    pub fn get_signing_key(&self) -> Result<Option<StoredSigningKey>> {
        self.get_json(GLOBAL, SIGNING_KEY)
    }

    /// Queues storing the signing key.
    pub fn put_signing_key(&self, batch: &mut WriteBatch, key: &StoredSigningKey) {
        batch.put(GLOBAL, SIGNING_KEY, encode(key));
    }
}
