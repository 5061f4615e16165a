//! Server-side key backups (spec: client-server "Server-side key backups"): backup versions and
//! the encrypted megolm session keys in them. Keys are written to the current version only; a
//! key replaces the stored one for its session only if it is better by the spec's rules.

use std::collections::BTreeMap;

use accord_db::{BackupVersion, WriteBatch};
use ruma::{
    OwnedRoomId, RoomId, UInt, UserId,
    api::{
        client::backup::{BackupAlgorithm, KeyBackupData},
        error::ErrorKind,
    },
    serde::Raw,
};
use serde_json::{Value, json};

use crate::{
    Error, Result, Services,
    raw::{json_of, raw_json},
};

/// The one backup algorithm the spec defines.
const MEGOLM_BACKUP_V1: &str = "m.megolm_backup.v1.curve25519-aes-sha2";

/// Keys of a backup: room -> session -> key data.
pub type BackupKeys = BTreeMap<OwnedRoomId, BTreeMap<String, Raw<KeyBackupData>>>;

/// A backup version as clients see it.
#[derive(Debug, Clone)]
pub struct BackupVersionInfo {
    /// `algorithm` and `auth_data`, as the client gave them.
    pub algorithm: Raw<BackupAlgorithm>,
    /// How many keys the version holds.
    pub count: UInt,
    /// Changes whenever the keys change.
    pub etag: String,
    /// The version's number, as a string.
    pub version: String,
}

/// A version's key count and etag after a change to its keys.
#[derive(Debug, Clone)]
pub struct BackupCounts {
    /// Changes whenever the keys change.
    pub etag: String,
    /// How many keys the version holds.
    pub count: UInt,
}

/// Which keys of a backup a request is about.
#[derive(Debug, Clone, Copy)]
pub struct KeySelection<'a> {
    /// One room's, or all rooms'.
    pub room_id: Option<&'a RoomId>,
    /// One session's (with a room), or all sessions'.
    pub session_id: Option<&'a str>,
}

fn parse_version(version: &str) -> Option<u64> {
    version.parse().ok()
}

fn unknown_version(version: &str) -> Error {
    Error::not_found(format!("Unknown backup version {version}"))
}

/// The algorithm's name and `auth_data`. Algorithms other than the spec's are stored as given:
/// the server only keeps the backup, clients interpret it (Synapse does the same, and
/// Complement's TestE2EKeyBackupReplaceRoomKeyRules uses one).
fn check_backup_algorithm(algorithm: &Value) -> Result<(String, Value)> {
    let name = algorithm["algorithm"]
        .as_str()
        .ok_or_else(|| Error::bad_json("`algorithm` is required"))?;
    let auth_data = algorithm
        .get("auth_data")
        .filter(|data| data.is_object())
        .ok_or_else(|| Error::bad_json("`auth_data` must be an object"))?;
    if name == MEGOLM_BACKUP_V1 && !auth_data["public_key"].is_string() {
        return Err(Error::bad_json("auth_data.public_key must be a string"));
    }
    Ok((name.to_owned(), auth_data.clone()))
}

/// Whether `new` should replace `old` for the same session (spec order: verified first, then
/// the lower first message index, then the lower forwarded count).
fn is_better(new: &Value, old: &Value) -> bool {
    let verified = |key: &Value| key["is_verified"].as_bool().unwrap_or(false);
    let index = |key: &Value| key["first_message_index"].as_u64().unwrap_or(u64::MAX);
    let forwarded = |key: &Value| key["forwarded_count"].as_u64().unwrap_or(u64::MAX);
    if verified(new) != verified(old) {
        return verified(new);
    }
    if index(new) != index(old) {
        return index(new) < index(old);
    }
    forwarded(new) < forwarded(old)
}

fn check_key_data(key: &Value) -> Result<()> {
    let valid = key["first_message_index"].is_u64()
        && key["forwarded_count"].is_u64()
        && key["is_verified"].is_boolean()
        && key["session_data"].is_object();
    if valid {
        Ok(())
    } else {
        Err(Error::bad_json(
            "Key data needs first_message_index, forwarded_count, is_verified and session_data",
        ))
    }
}

fn version_info(version: u64, info: &BackupVersion) -> Result<BackupVersionInfo> {
    Ok(BackupVersionInfo {
        algorithm: raw_json(&json!({ "algorithm": info.algorithm, "auth_data": info.auth_data }))?,
        count: uint(info.count),
        etag: info.etag.to_string(),
        version: version.to_string(),
    })
}

fn counts(info: &BackupVersion) -> BackupCounts {
    BackupCounts {
        etag: info.etag.to_string(),
        count: uint(info.count),
    }
}

/// A key count as the spec's integer (counts never come near 2^53).
fn uint(count: u64) -> UInt {
    UInt::try_from(count).unwrap_or(UInt::MAX)
}

impl Services {
    /// `POST /room_keys/version`: a new backup version, which becomes the current one.
    pub fn create_backup_version(&self, user_id: &UserId, algorithm: &Raw<BackupAlgorithm>) -> Result<String> {
        let (algorithm, auth_data) = check_backup_algorithm(&json_of(algorithm)?)?;
        let db = self.db();
        let _serialised = self.backup_writes.lock();
        let version = db.last_backup_version_number(user_id)? + 1;
        let info = BackupVersion {
            algorithm,
            auth_data,
            etag: 0,
            count: 0,
            deleted: false,
        };
        let mut batch = WriteBatch::new();
        db.put_backup_version(&mut batch, user_id, version, &info);
        db.write(batch)?;
        Ok(version.to_string())
    }

    /// `GET /room_keys/version[/{version}]`: the given version, or the current one.
    pub fn backup_version_info(&self, user_id: &UserId, version: Option<&str>) -> Result<BackupVersionInfo> {
        let db = self.db();
        match version {
            None => {
                let (version, info) = db
                    .current_backup_version(user_id)?
                    .ok_or_else(|| Error::not_found("No backup exists"))?;
                version_info(version, &info)
            }
            Some(text) => {
                let number = parse_version(text).ok_or_else(|| unknown_version(text))?;
                let info = db
                    .get_backup_version(user_id, number)?
                    .filter(|info| !info.deleted)
                    .ok_or_else(|| unknown_version(text))?;
                version_info(number, &info)
            }
        }
    }

    /// `PUT /room_keys/version/{version}`: only `auth_data` may change.
    pub fn update_backup_version(&self, user_id: &UserId, version: &str, body: &Raw<BackupAlgorithm>) -> Result<()> {
        let body = &json_of(body)?;
        if let Some(in_body) = body.get("version")
            && in_body.as_str() != Some(version)
        {
            return Err(Error::invalid_param(
                "The version in the body differs from the one in the path",
            ));
        }
        let (algorithm, auth_data) = check_backup_algorithm(body)?;
        let db = self.db();
        let _serialised = self.backup_writes.lock();
        let (number, mut info) = self.live_version(user_id, version)?;
        if info.algorithm != algorithm {
            return Err(Error::invalid_param(format!(
                "The backup's algorithm is {}; it cannot change",
                info.algorithm
            )));
        }
        info.auth_data = auth_data;
        let mut batch = WriteBatch::new();
        db.put_backup_version(&mut batch, user_id, number, &info);
        db.write(batch)?;
        Ok(())
    }

    /// `DELETE /room_keys/version/{version}`: the version and its keys.
    pub fn delete_backup_version(&self, user_id: &UserId, version: &str) -> Result<()> {
        let db = self.db();
        let _serialised = self.backup_writes.lock();
        let (number, mut info) = self.live_version(user_id, version)?;
        let mut batch = WriteBatch::new();
        db.delete_backup_keys(&mut batch, user_id, number, None, None)?;
        info.deleted = true;
        info.count = 0;
        db.put_backup_version(&mut batch, user_id, number, &info);
        let event = accord_db::AuditEvent::new(crate::audit::kinds::KEY_BACKUP_DELETED)
            .actor(user_id)
            .target(user_id)
            .detail("version", version);
        db.write_audited(batch, event)?;
        Ok(())
    }

    /// `PUT /room_keys/keys[/{roomId}[/{sessionId}]]`: stores keys in the current version,
    /// each only if better than the stored one.
    pub fn put_backup_keys(&self, user_id: &UserId, version: &str, keys: &BackupKeys) -> Result<BackupCounts> {
        let mut values = BTreeMap::new();
        for (room_id, sessions) in keys {
            for (session_id, key) in sessions {
                let key = json_of(key)?;
                check_key_data(&key)?;
                values.insert((room_id, session_id), key);
            }
        }
        let db = self.db();
        let _serialised = self.backup_writes.lock();
        let (number, mut info) = self.live_version(user_id, version)?;
        if let Some((current, _)) = db.current_backup_version(user_id)?
            && current != number
        {
            return Err(Error::new(
                ErrorKind::WrongRoomKeysVersion(ruma::api::error::WrongRoomKeysVersionErrorData::new(
                    current.to_string(),
                )),
                format!("Backup version {version} is not the current one ({current})"),
            ));
        }
        let mut batch = WriteBatch::new();
        let mut changed = false;
        for ((room_id, session_id), key) in &values {
            let stored = db.backup_keys(user_id, number, Some(room_id), Some(session_id))?;
            let replace = match stored.first() {
                Some((_, _, old)) => is_better(key, old),
                None => {
                    info.count += 1;
                    true
                }
            };
            if replace {
                db.put_backup_key(&mut batch, user_id, number, room_id, session_id, key);
                changed = true;
            }
        }
        if changed {
            info.etag += 1;
            db.put_backup_version(&mut batch, user_id, number, &info);
        }
        db.write(batch)?;
        Ok(counts(&info))
    }

    /// `GET /room_keys/keys[/{roomId}]`: the keys of every room, or of one.
    pub fn backup_keys(&self, user_id: &UserId, version: &str, room_id: Option<&RoomId>) -> Result<BackupKeys> {
        let (number, _) = self.live_version(user_id, version)?;
        let mut keys = BackupKeys::new();
        for (room, session, data) in self.db().backup_keys(user_id, number, room_id, None)? {
            keys.entry(room).or_default().insert(session, raw_json(&data)?);
        }
        Ok(keys)
    }

    /// `GET /room_keys/keys/{roomId}/{sessionId}`: one session's key data (404 when absent).
    pub fn backup_session_key(
        &self,
        user_id: &UserId,
        version: &str,
        room_id: &RoomId,
        session_id: &str,
    ) -> Result<Raw<KeyBackupData>> {
        let (number, _) = self.live_version(user_id, version)?;
        let keys = self
            .db()
            .backup_keys(user_id, number, Some(room_id), Some(session_id))?;
        let (_, _, data) = keys
            .into_iter()
            .next()
            .ok_or_else(|| Error::not_found(format!("No key for session {session_id} in backup {version}")))?;
        raw_json(&data)
    }

    /// `DELETE /room_keys/keys[/{roomId}[/{sessionId}]]`.
    pub fn delete_backup_keys(&self, user_id: &UserId, version: &str, which: KeySelection<'_>) -> Result<BackupCounts> {
        let db = self.db();
        let _serialised = self.backup_writes.lock();
        let (number, mut info) = self.live_version(user_id, version)?;
        let mut batch = WriteBatch::new();
        let removed = db.delete_backup_keys(&mut batch, user_id, number, which.room_id, which.session_id)?;
        if removed > 0 {
            info.count = info.count.saturating_sub(removed as u64);
            info.etag += 1;
            db.put_backup_version(&mut batch, user_id, number, &info);
        }
        db.write(batch)?;
        Ok(counts(&info))
    }

    /// A version that exists and isn't deleted, or 404.
    fn live_version(&self, user_id: &UserId, version: &str) -> Result<(u64, BackupVersion)> {
        let number = parse_version(version).ok_or_else(|| unknown_version(version))?;
        let info = self
            .db()
            .get_backup_version(user_id, number)?
            .filter(|info| !info.deleted)
            .ok_or_else(|| unknown_version(version))?;
        Ok((number, info))
    }
}
