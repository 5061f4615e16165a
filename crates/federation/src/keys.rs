//! Other servers' signing keys: fetched from the server itself, checked (its own signature,
//! its name, expiry), and cached until they expire.

use std::{collections::BTreeMap, sync::Arc};

use accord_core::time::now_millis;
use parking_lot::Mutex;
use ruma::{
    CanonicalJsonObject, CanonicalJsonValue, OwnedServerName, ServerName,
    api::federation::discovery::get_server_keys::v2 as get_server_keys,
    serde::Base64,
    signatures::{PublicKeySet, verify_json},
};

use accord_db::Db;

use crate::{Error, FederationClient, Result};

/// Keys of one server, until when they may be used, and the server's own signed answer
/// (served again, countersigned, by the notary endpoints).
#[derive(Debug, Clone)]
struct CachedKeys {
    keys: PublicKeySet,
    valid_until: u64,
    raw: CanonicalJsonObject,
}

/// The cache: memory in front of the database. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct KeyCache {
    servers: Arc<Mutex<BTreeMap<OwnedServerName, CachedKeys>>>,
    db: Db,
}

fn bad(server: &ServerName, reason: impl Into<String>) -> Error {
    Error::BadResponse {
        server: server.to_string(),
        reason: reason.into(),
    }
}

impl KeyCache {
    pub(crate) fn new(db: Db) -> Self {
        Self {
            servers: Arc::default(),
            db,
        }
    }

    /// `server`'s keys still valid and, when `key_id` is given, holding it: from memory, then
    /// the database (checked again), then the server itself (and stored).
    async fn current(
        &self,
        client: &FederationClient,
        server: &ServerName,
        key_id: Option<&str>,
    ) -> Result<CachedKeys> {
        let usable = |cached: &CachedKeys| {
            cached.valid_until > now_millis() && key_id.is_none_or(|id| cached.keys.contains_key(id))
        };
        if let Some(cached) = self.servers.lock().get(server).filter(|c| usable(c)) {
            return Ok(cached.clone());
        }
        let stored = self
            .db
            .get_server_keys(server)
            .ok()
            .flatten()
            .and_then(|raw| check(server, raw).ok());
        let keys = match stored.filter(usable) {
            Some(stored) => stored,
            None => {
                let fetched = fetch(client, server).await?;
                if let Err(err) = self.db.put_server_keys(server, &fetched.raw) {
                    tracing::warn!(%server, %err, "could not store fetched server keys");
                }
                fetched
            }
        };
        self.servers.lock().insert(server.to_owned(), keys.clone());
        Ok(keys)
    }

    /// `server`'s own signed key answer.
    pub(crate) async fn signed_answer(
        &self,
        client: &FederationClient,
        server: &ServerName,
    ) -> Result<CanonicalJsonObject> {
        Ok(self.current(client, server, None).await?.raw)
    }

    /// `server`'s keys, holding `key_id`.
    pub(crate) async fn keys(
        &self,
        client: &FederationClient,
        server: &ServerName,
        key_id: &str,
    ) -> Result<PublicKeySet> {
        Ok(self.current(client, server, Some(key_id)).await?.keys)
    }
}

/// Fetches `GET /_matrix/key/v2/server` from `server` and checks it.
async fn fetch(client: &FederationClient, server: &ServerName) -> Result<CachedKeys> {
    let response = client.send(server, get_server_keys::Request::new()).await?;
    let object: CanonicalJsonObject =
        serde_json::from_str(response.server_key.json().get()).map_err(|err| bad(server, err.to_string()))?;
    check(server, object)
}

/// Checks a key answer: it names `server`, has an expiry, and is signed by the keys it lists.
fn check(server: &ServerName, object: CanonicalJsonObject) -> Result<CachedKeys> {
    match object.get("server_name") {
        Some(CanonicalJsonValue::String(name)) if name == server.as_str() => {}
        _ => return Err(bad(server, "key response names another server")),
    }
    let valid_until = match object.get("valid_until_ts") {
        Some(CanonicalJsonValue::Integer(ts)) => u64::try_from(i64::from(*ts)).unwrap_or(0),
        _ => return Err(bad(server, "key response has no valid_until_ts")),
    };
    let mut keys = PublicKeySet::new();
    for field in ["verify_keys", "old_verify_keys"] {
        if let Some(CanonicalJsonValue::Object(entries)) = object.get(field) {
            for (key_id, entry) in entries {
                if let CanonicalJsonValue::Object(entry) = entry
                    && let Some(CanonicalJsonValue::String(key)) = entry.get("key")
                {
                    let key = Base64::parse(key).map_err(|err| bad(server, format!("key {key_id}: {err}")))?;
                    keys.insert(key_id.clone(), key);
                }
            }
        }
    }
    let mut current = PublicKeySet::new();
    if let Some(CanonicalJsonValue::Object(entries)) = object.get("verify_keys") {
        for key_id in entries.keys() {
            if let Some(key) = keys.get(key_id) {
                current.insert(key_id.clone(), key.clone());
            }
        }
    }
    let mut map = BTreeMap::new();
    map.insert(server.to_string(), current);
    verify_json(&map, &object).map_err(|err| bad(server, format!("key response not self-signed: {err}")))?;
    // Spec: a server must not use keys past their validity; cap what we trust at a week.
    let valid_until = valid_until.min(now_millis().saturating_add(7 * 24 * 60 * 60 * 1000));
    Ok(CachedKeys {
        keys,
        valid_until,
        raw: object,
    })
}
