//! `accord verify`: every stored event is checked as a receiving server would check it: its
//! id is the reference hash of its content (room versions 3 and later), and its origin's
//! signature verifies with the keys this server knows (its own, current and retired, and the
//! other servers' keys it cached). An event whose content hash no longer matches was redacted,
//! which the signature still covers. What can't be checked (no key of its server cached) is
//! counted, not reported as damage.

use std::collections::{BTreeMap, HashMap};

use accord_core::ServerIdentity;
use accord_db::Db;
use ruma::{
    CanonicalJsonObject, CanonicalJsonValue, OwnedRoomId,
    room_version_rules::RoomVersionRules,
    serde::Base64,
    signatures::{PublicKeyMap, PublicKeySet, Verified, verify_event},
};

use crate::Result;

/// Problems listed at most (the count goes on).
const MAX_LISTED: usize = 100;
/// Progress is logged every this many events.
const PROGRESS_EVERY: u64 = 100_000;

/// What `accord verify` found.
#[derive(Debug, Clone, Default)]
pub struct IntegrityReport {
    /// Events read.
    pub events: u64,
    /// Events whose id and signatures verified, content hash included.
    pub verified: u64,
    /// Events that verified as redacted (content hash no longer matches, signature does).
    pub redacted: u64,
    /// Events signed by a server whose key this server never cached.
    pub unverifiable: u64,
    /// Events that failed: damaged or forged (the first [`MAX_LISTED`] listed).
    pub failed: u64,
    /// One line per failure.
    pub problems: Vec<String>,
}

/// The public keys of every server this database knows.
fn known_keys(identity: &ServerIdentity) -> PublicKeyMap {
    let mut map: PublicKeyMap = BTreeMap::new();
    let mut own = PublicKeySet::new();
    own.insert(
        format!("ed25519:{}", identity.key.version()),
        Base64::new(identity.key.public_key().to_vec()),
    );
    for old in identity.old_keys.iter() {
        own.insert(old.key_id.clone(), Base64::new(old.public_key.clone()));
    }
    map.insert(identity.server_name.to_string(), own);
    map
}

/// Adds the cached keys of `server` (current and old) to `map`, once.
fn add_cached_keys(db: &Db, map: &mut PublicKeyMap, server: &str) -> accord_db::Result<()> {
    if map.contains_key(server) {
        return Ok(());
    }
    let mut set = PublicKeySet::new();
    if let Ok(name) = <&ruma::ServerName>::try_from(server)
        && let Some(answer) = db.get_server_keys(name)?
    {
        for field in ["verify_keys", "old_verify_keys"] {
            if let Some(CanonicalJsonValue::Object(keys)) = answer.get(field) {
                for (key_id, key) in keys {
                    if let Some(CanonicalJsonValue::String(text)) = key.as_object().and_then(|key| key.get("key"))
                        && let Ok(key) = Base64::parse(text)
                    {
                        set.insert(key_id.clone(), key);
                    }
                }
            }
        }
    }
    map.insert(server.to_owned(), set);
    Ok(())
}

fn signers(object: &CanonicalJsonObject) -> Vec<String> {
    match object.get("signatures") {
        Some(CanonicalJsonValue::Object(signatures)) => signatures.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// Checks every stored event; logs progress on large databases.
pub fn verify_database(db: &Db, identity: &ServerIdentity) -> Result<IntegrityReport> {
    let mut keys = known_keys(identity);
    let mut rules: HashMap<OwnedRoomId, RoomVersionRules> = HashMap::new();
    let mut report = IntegrityReport::default();
    db.for_each_pdu(|short, object| {
        report.events += 1;
        if report.events.is_multiple_of(PROGRESS_EVERY) {
            tracing::info!(events = report.events, "verifying stored events");
        }
        let meta = db.event_meta(short)?;
        if meta.rejected {
            // Kept for the DAG after failing authorization (or verification) on arrival.
            report.verified += 1;
            return Ok(());
        }
        let room_rules = match rules.get(&meta.room_id) {
            Some(found) => found.clone(),
            None => {
                let Some(room) = db.get_room_meta(&meta.room_id)? else {
                    report.unverifiable += 1;
                    return Ok(());
                };
                let Some(found) = room.version.rules() else {
                    report.unverifiable += 1;
                    return Ok(());
                };
                rules.insert(meta.room_id.clone(), found.clone());
                found
            }
        };
        let fail = |report: &mut IntegrityReport, why: String| {
            report.failed += 1;
            if report.problems.len() < MAX_LISTED {
                report
                    .problems
                    .push(format!("{} in {}: {why}", meta.event_id, meta.room_id));
            }
        };
        match accord_room::event_id_of(&object, &room_rules) {
            Ok(id) if id == meta.event_id => {}
            Ok(id) => {
                fail(&mut report, format!("its content hashes to {id}, not its id"));
                return Ok(());
            }
            Err(err) => {
                fail(&mut report, format!("its id can't be computed: {err}"));
                return Ok(());
            }
        }
        let servers = signers(&object);
        for server in &servers {
            add_cached_keys(db, &mut keys, server)?;
        }
        if servers
            .iter()
            .any(|server| keys.get(server).is_none_or(PublicKeySet::is_empty))
        {
            report.unverifiable += 1;
            return Ok(());
        }
        match verify_event(&keys, &object, &room_rules) {
            Ok(Verified::All) => report.verified += 1,
            Ok(Verified::Signatures) => report.redacted += 1,
            Err(err) => fail(&mut report, format!("signature check failed: {err}")),
        }
        Ok(())
    })?;
    tracing::info!(
        events = report.events,
        verified = report.verified,
        redacted = report.redacted,
        unverifiable = report.unverifiable,
        failed = report.failed,
        "stored events verified"
    );
    Ok(report)
}
