//! Loading the server's signing key, or generating it at first start. The key id stays stable
//! for the life of the database: remote servers cache it to verify our events.

use std::sync::Arc;

use accord_core::ServerIdentity;
use accord_db::{Db, StoredSigningKey, WriteBatch};
use base64::{Engine, engine::general_purpose::STANDARD};
use ruma::{OwnedServerName, signatures::Ed25519KeyPair};

use crate::{Error, Result, tokens::random_alphanumeric};

/// The identity stored in `db`, creating and storing a fresh key if there is none.
pub fn load_or_generate(db: &Db, server_name: OwnedServerName) -> Result<ServerIdentity> {
    let stored = match db.get_signing_key()? {
        Some(stored) => stored,
        None => {
            let pkcs8 = Ed25519KeyPair::generate();
            let stored = StoredSigningKey {
                version: format!("a_{}", random_alphanumeric(4)),
                pkcs8: STANDARD.encode(&*pkcs8),
            };
            let mut batch = WriteBatch::new();
            db.put_signing_key(&mut batch, &stored);
            db.write(batch)?;
            tracing::info!(key_id = %format!("ed25519:{}", stored.version), "generated the server signing key");
            stored
        }
    };
    let der = STANDARD
        .decode(&stored.pkcs8)
        .map_err(|err| Error::Internal(format!("stored signing key is not base64: {err}")))?;
    let key = Ed25519KeyPair::from_der(&der, stored.version)
        .map_err(|err| Error::Internal(format!("stored signing key is unreadable: {err}")))?;
    Ok(ServerIdentity {
        server_name,
        key: Arc::new(key),
    })
}
