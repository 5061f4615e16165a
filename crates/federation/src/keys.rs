//! Other servers' signing keys: fetched from the server itself, or, when it can't be reached,
//! from the notaries in `federation.trusted_key_servers`; checked (the server's own signature,
//! its name, expiry, and the notary's signature), and cached until they expire.
//!
//! Each key remembers until when it may verify events: `valid_until_ts` of the answer for a
//! current key, `expired_ts` for an old one (spec: "Retrieving server keys"; room versions 5+
//! refuse events signed by a key that was not valid at their `origin_server_ts`).

use std::{collections::BTreeMap, sync::Arc};

use accord_core::time::now_millis;
use parking_lot::Mutex;
use ruma::{
    CanonicalJsonObject, CanonicalJsonValue, OwnedServerName, ServerName,
    api::federation::discovery::{
        get_remote_server_keys::v2 as get_remote_server_keys, get_server_keys::v2 as get_server_keys,
    },
    serde::Base64,
    signatures::{PublicKeySet, verify_json},
};

use accord_db::Db;

use crate::{Error, FederationClient, Result};

/// Longest we cache an answer, whatever `valid_until_ts` says.
const MAX_CACHE_MILLIS: u64 = 7 * 24 * 60 * 60 * 1000;

/// Keys of one server, until when each may verify events, until when the answer may be used,
/// and the server's own signed answer (served again, countersigned, by the notary endpoints).
#[derive(Debug, Clone)]
struct CachedKeys {
    keys: PublicKeySet,
    key_valid_until: BTreeMap<String, u64>,
    valid_until: u64,
    raw: CanonicalJsonObject,
}

/// What a caller needs of a server's keys.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Need<'a> {
    /// A key that must be among them.
    pub key_id: Option<&'a str>,
    /// The time (ms) at which that key must have been valid: an event's `origin_server_ts`.
    pub valid_at: Option<u64>,
}

impl CachedKeys {
    fn fresh(&self) -> bool {
        self.valid_until > now_millis()
    }

    fn satisfies(&self, need: Need<'_>) -> bool {
        let Some(key_id) = need.key_id else {
            return true;
        };
        let valid_until = self.key_valid_until.get(key_id).copied();
        valid_until.is_some_and(|until| need.valid_at.is_none_or(|at| at <= until))
    }
}

/// The cache: memory in front of the database. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct KeyCache {
    servers: Arc<Mutex<BTreeMap<OwnedServerName, CachedKeys>>>,
    db: Db,
    trusted: Arc<Vec<OwnedServerName>>,
}

fn bad(server: &ServerName, reason: impl Into<String>) -> Error {
    Error::BadResponse {
        server: server.to_string(),
        reason: reason.into(),
    }
}

impl KeyCache {
    pub(crate) fn new(db: Db, trusted: Vec<OwnedServerName>) -> Self {
        Self {
            servers: Arc::default(),
            db,
            trusted: Arc::new(trusted),
        }
    }

    /// `server`'s keys, fresh and meeting `need`: from memory, then the database (checked
    /// again), then the network (and stored). Keys that exist but were not valid at
    /// `need.valid_at` are an error naming both times.
    async fn current(&self, client: &FederationClient, server: &ServerName, need: Need<'_>) -> Result<CachedKeys> {
        if let Some(cached) = self
            .servers
            .lock()
            .get(server)
            .filter(|c| c.fresh() && c.satisfies(need))
        {
            return Ok(cached.clone());
        }
        let stored = self
            .db
            .get_server_keys(server)
            .ok()
            .flatten()
            .and_then(|raw| check(server, raw).ok())
            .filter(|c| c.fresh() && c.satisfies(need));
        let keys = match stored {
            Some(stored) => stored,
            None => {
                let fetched = self.fetch(client, server).await?;
                if let Err(err) = self.db.put_server_keys(server, &fetched.raw) {
                    tracing::warn!(%server, %err, "could not store fetched server keys");
                }
                fetched
            }
        };
        self.servers.lock().insert(server.to_owned(), keys.clone());
        if let (Some(key_id), Some(at)) = (need.key_id, need.valid_at)
            && let Some(until) = keys.key_valid_until.get(key_id)
            && *until < at
        {
            return Err(bad(
                server,
                format!("key {key_id} was valid until {until}, before the event's origin_server_ts {at}"),
            ));
        }
        Ok(keys)
    }

    /// `server`'s own signed answer.
    pub(crate) async fn signed_answer(
        &self,
        client: &FederationClient,
        server: &ServerName,
    ) -> Result<CanonicalJsonObject> {
        Ok(self.current(client, server, Need::default()).await?.raw)
    }

    /// `server`'s keys, meeting `need` (a key id, valid at a time).
    pub(crate) async fn keys(
        &self,
        client: &FederationClient,
        server: &ServerName,
        need: Need<'_>,
    ) -> Result<PublicKeySet> {
        let keys = self.current(client, server, need).await?;
        if let Some(key_id) = need.key_id
            && !keys.keys.contains_key(key_id)
        {
            return Err(bad(server, format!("publishes no key {key_id}")));
        }
        Ok(keys.keys)
    }

    /// From the server itself; when that fails, from each trusted notary in turn.
    async fn fetch(&self, client: &FederationClient, server: &ServerName) -> Result<CachedKeys> {
        let direct = match fetch_direct(client, server).await {
            Ok(keys) => return Ok(keys),
            Err(err) => err,
        };
        for notary in self.trusted.iter().filter(|notary| notary.as_str() != server.as_str()) {
            match self.fetch_from_notary(client, notary, server).await {
                Ok(keys) => {
                    tracing::info!(%server, %notary, "fetched signing keys through a trusted key server");
                    return Ok(keys);
                }
                Err(err) => tracing::info!(%server, %notary, %err, "trusted key server could not give the keys"),
            }
        }
        Err(direct)
    }

    /// Asks `notary` for `server`'s keys. The answer must carry both `server`'s own signature
    /// and the notary's, checked with the notary's keys fetched from the notary itself.
    async fn fetch_from_notary(
        &self,
        client: &FederationClient,
        notary: &ServerName,
        server: &ServerName,
    ) -> Result<CachedKeys> {
        let response = client
            .send(
                notary,
                get_remote_server_keys::Request::new(server.to_owned(), ruma::MilliSecondsSinceUnixEpoch::now()),
            )
            .await?;
        let mut last = bad(notary, format!("has no keys of {server}"));
        for raw in &response.server_keys {
            let object: CanonicalJsonObject = match serde_json::from_str(raw.json().get()) {
                Ok(object) => object,
                Err(err) => {
                    last = bad(notary, err.to_string());
                    continue;
                }
            };
            match self.check_notarised(client, notary, server, object).await {
                Ok(keys) => return Ok(keys),
                Err(err) => last = err,
            }
        }
        Err(last)
    }

    async fn check_notarised(
        &self,
        client: &FederationClient,
        notary: &ServerName,
        server: &ServerName,
        object: CanonicalJsonObject,
    ) -> Result<CachedKeys> {
        let notary_key_id = signer_key_ids(&object, notary)
            .into_iter()
            .next()
            .ok_or_else(|| bad(notary, format!("did not sign the keys of {server}")))?;
        let cached = self.servers.lock().get(notary).filter(|c| c.fresh()).cloned();
        let notary_keys = match cached {
            Some(cached) => cached,
            None => fetch_direct(client, notary).await?,
        };
        // The server's own signature first (on the answer without the notary's), then both.
        let mut own = object.clone();
        if let Some(CanonicalJsonValue::Object(signatures)) = own.get_mut("signatures") {
            signatures.retain(|signer, _| signer == server.as_str());
        }
        let checked = check(server, own)?;
        let mut map = BTreeMap::new();
        map.insert(server.to_string(), checked.keys.clone());
        map.insert(notary.to_string(), notary_keys.keys);
        verify_json(&map, &object).map_err(|err| {
            bad(
                notary,
                format!("notary signature ({notary_key_id}) on {server}'s keys does not verify: {err}"),
            )
        })?;
        Ok(checked)
    }
}

/// The key ids `signer` signed `object` with.
fn signer_key_ids(object: &CanonicalJsonObject, signer: &ServerName) -> Vec<String> {
    match object.get("signatures") {
        Some(CanonicalJsonValue::Object(by_server)) => match by_server.get(signer.as_str()) {
            Some(CanonicalJsonValue::Object(keys)) => keys.keys().cloned().collect(),
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// Fetches `GET /_matrix/key/v2/server` from `server` and checks it.
async fn fetch_direct(client: &FederationClient, server: &ServerName) -> Result<CachedKeys> {
    let response = client.send(server, get_server_keys::Request::new()).await?;
    let object: CanonicalJsonObject =
        serde_json::from_str(response.server_key.json().get()).map_err(|err| bad(server, err.to_string()))?;
    check(server, object)
}

fn int_field(object: &CanonicalJsonObject, field: &str) -> Option<u64> {
    match object.get(field) {
        Some(CanonicalJsonValue::Integer(ts)) => Some(u64::try_from(i64::from(*ts)).unwrap_or(0)),
        _ => None,
    }
}

/// Checks a key answer: it names `server`, has an expiry, and is signed by its current keys.
fn check(server: &ServerName, object: CanonicalJsonObject) -> Result<CachedKeys> {
    match object.get("server_name") {
        Some(CanonicalJsonValue::String(name)) if name == server.as_str() => {}
        _ => return Err(bad(server, "key response names another server")),
    }
    let valid_until_ts =
        int_field(&object, "valid_until_ts").ok_or_else(|| bad(server, "key response has no valid_until_ts"))?;
    let mut keys = PublicKeySet::new();
    let mut current = PublicKeySet::new();
    let mut key_valid_until = BTreeMap::new();
    for field in ["verify_keys", "old_verify_keys"] {
        let Some(CanonicalJsonValue::Object(entries)) = object.get(field) else {
            continue;
        };
        for (key_id, entry) in entries {
            let CanonicalJsonValue::Object(entry) = entry else {
                continue;
            };
            let Some(CanonicalJsonValue::String(key)) = entry.get("key") else {
                continue;
            };
            let key = Base64::parse(key).map_err(|err| bad(server, format!("key {key_id}: {err}")))?;
            let until = if field == "verify_keys" {
                current.insert(key_id.clone(), key.clone());
                valid_until_ts
            } else {
                int_field(entry, "expired_ts").unwrap_or(0)
            };
            keys.insert(key_id.clone(), key);
            key_valid_until.insert(key_id.clone(), until);
        }
    }
    let mut map = BTreeMap::new();
    map.insert(server.to_string(), current);
    verify_json(&map, &object).map_err(|err| bad(server, format!("key response not self-signed: {err}")))?;
    Ok(CachedKeys {
        keys,
        key_valid_until,
        valid_until: valid_until_ts.min(now_millis().saturating_add(MAX_CACHE_MILLIS)),
        raw: object,
    })
}
