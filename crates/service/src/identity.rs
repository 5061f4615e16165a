//! The server's signing key: loaded, generated at first start, or rotated by the operator
//! (`accord keys rotate`). Remote servers cache our key to verify our events, so a rotated key
//! is kept as an old verify key with the time it stopped signing.

use std::sync::Arc;

use accord_core::{ServerIdentity, identity::OldVerifyKey, time::now_millis};
use accord_db::{Db, StoredOldKey, StoredSigningKey, WriteBatch};
use base64::{
    Engine,
    engine::general_purpose::{STANDARD, STANDARD_NO_PAD},
};
use ruma::{OwnedServerName, signatures::Ed25519KeyPair};

use crate::{Error, Result, tokens::random_alphanumeric};

/// The identity stored in `db`, creating and storing a fresh key if there is none.
pub fn load_or_generate(db: &Db, server_name: OwnedServerName) -> Result<ServerIdentity> {
    let stored = match db.get_signing_key()? {
        Some(stored) => stored,
        None => {
            let stored = new_key();
            let mut batch = WriteBatch::new();
            db.put_signing_key(&mut batch, &stored);
            db.write(batch)?;
            tracing::info!(key_id = %format!("ed25519:{}", stored.version), "generated the server signing key");
            stored
        }
    };
    let key = key_pair(&stored)?;
    let old_keys = db
        .get_old_signing_keys()?
        .into_iter()
        .map(|old| {
            let public_key = STANDARD_NO_PAD
                .decode(&old.public_key)
                .map_err(|err| Error::Internal(format!("stored old key {} is not base64: {err}", old.version)))?;
            Ok(OldVerifyKey {
                key_id: format!("ed25519:{}", old.version),
                public_key,
                expired_ts: old.expired_ts,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(ServerIdentity {
        server_name,
        key: Arc::new(key),
        old_keys: Arc::new(old_keys),
    })
}

/// Retires the current signing key (kept as an old verify key, expired now) and stores a new
/// one; returns the new key id. For a stopped server: a running one keeps signing with the
/// key it loaded.
pub fn rotate(db: &Db) -> Result<String> {
    let current = db
        .get_signing_key()?
        .ok_or_else(|| Error::Internal("the database has no signing key yet; start the server once".to_owned()))?;
    let public_key = STANDARD_NO_PAD.encode(key_pair(&current)?.public_key());
    let mut old = db.get_old_signing_keys()?;
    old.push(StoredOldKey {
        version: current.version,
        public_key,
        expired_ts: now_millis(),
    });
    let fresh = new_key();
    let mut batch = WriteBatch::new();
    db.put_old_signing_keys(&mut batch, &old);
    db.put_signing_key(&mut batch, &fresh);
    db.write(batch)?;
    let key_id = format!("ed25519:{}", fresh.version);
    tracing::info!(%key_id, retired = old.len(), "rotated the server signing key");
    Ok(key_id)
}

fn new_key() -> StoredSigningKey {
    let pkcs8 = Ed25519KeyPair::generate();
    StoredSigningKey {
        version: format!("a_{}", random_alphanumeric(6)),
        pkcs8: STANDARD.encode(&*pkcs8),
    }
}

fn key_pair(stored: &StoredSigningKey) -> Result<Ed25519KeyPair> {
    let der = STANDARD
        .decode(&stored.pkcs8)
        .map_err(|err| Error::Internal(format!("stored signing key is not base64: {err}")))?;
    Ed25519KeyPair::from_der(&der, stored.version.clone())
        .map_err(|err| Error::Internal(format!("stored signing key is unreadable: {err}")))
}
