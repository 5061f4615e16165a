//! Server-side key backups (spec: client-server "Server-side key backups"): backup versions and
//! the encrypted megolm session keys in them. Keys are written to the current version only; a
//! key replaces the stored one for its session only if it is better by the spec's rules.

use std::collections::BTreeMap;

use accord_db::{BackupVersion, WriteBatch};
use ruma::{OwnedRoomId, RoomId, UserId, api::error::ErrorKind};
use serde_json::{Map, Value, json};

use crate::{Error, Result, Services};

/// The one backup algorithm the spec defines.
const MEGOLM_BACKUP_V1: &str = "m.megolm_backup.v1.curve25519-aes-sha2";

/// Keys to store: room -> session -> key data.
pub type BackupKeys = BTreeMap<OwnedRoomId, BTreeMap<String, Value>>;

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

fn check_backup_algorithm(algorithm: &Value) -> Result<(String, Value)> {
    let name = algorithm["algorithm"]
        .as_str()
        .ok_or_else(|| Error::bad_json("`algorithm` is required"))?;
    if name != MEGOLM_BACKUP_V1 {
        return Err(Error::invalid_param(format!(
            "Unsupported backup algorithm {name}; this server supports {MEGOLM_BACKUP_V1}"
        )));
    }
    let auth_data = algorithm
        .get("auth_data")
        .filter(|data| data.is_object())
        .ok_or_else(|| Error::bad_json("`auth_data` must be an object"))?;
    if !auth_data["public_key"].is_string() {
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

fn version_info(version: u64, info: &BackupVersion) -> Value {
    json!({
        "algorithm": info.algorithm,
        "auth_data": info.auth_data,
        "count": info.count,
        "etag": info.etag.to_string(),
        "version": version.to_string(),
    })
}

impl Services {
    /// `POST /room_keys/version`: a new backup version, which becomes the current one.
    pub fn create_backup_version(&self, user_id: &UserId, algorithm: &Value) -> Result<String> {
        let (algorithm, auth_data) = check_backup_algorithm(algorithm)?;
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
    pub fn backup_version_info(&self, user_id: &UserId, version: Option<&str>) -> Result<Value> {
        let db = self.db();
        match version {
            None => db
                .current_backup_version(user_id)?
                .map(|(version, info)| version_info(version, &info))
                .ok_or_else(|| Error::not_found("No backup exists")),
            Some(text) => {
                let number = parse_version(text).ok_or_else(|| unknown_version(text))?;
                db.get_backup_version(user_id, number)?
                    .filter(|info| !info.deleted)
                    .map(|info| version_info(number, &info))
                    .ok_or_else(|| unknown_version(text))
            }
        }
    }

    /// `PUT /room_keys/version/{version}`: only `auth_data` may change.
    pub fn update_backup_version(&self, user_id: &UserId, version: &str, body: &Value) -> Result<()> {
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
        db.write(batch)?;
        Ok(())
    }

    /// `PUT /room_keys/keys[/{roomId}[/{sessionId}]]`: stores keys in the current version,
    /// each only if better than the stored one. Returns `{etag, count}`.
    pub fn put_backup_keys(&self, user_id: &UserId, version: &str, keys: &BackupKeys) -> Result<Value> {
        for sessions in keys.values() {
            sessions.values().try_for_each(check_key_data)?;
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
        for (room_id, sessions) in keys {
            for (session_id, key) in sessions {
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
        }
        if changed {
            info.etag += 1;
            db.put_backup_version(&mut batch, user_id, number, &info);
        }
        db.write(batch)?;
        Ok(json!({ "etag": info.etag.to_string(), "count": info.count }))
    }

    /// `GET /room_keys/keys[/{roomId}[/{sessionId}]]`: all keys as `{rooms: {..}}`, a room's
    /// as `{sessions: {..}}`, or one session's key data (404 when absent).
    pub fn get_backup_keys(&self, user_id: &UserId, version: &str, which: KeySelection<'_>) -> Result<Value> {
        let (number, _) = self.live_version(user_id, version)?;
        let keys = self
            .db()
            .backup_keys(user_id, number, which.room_id, which.session_id)?;
        match (which.room_id, which.session_id) {
            (Some(_), Some(session_id)) => keys
                .into_iter()
                .next()
                .map(|(_, _, data)| data)
                .ok_or_else(|| Error::not_found(format!("No key for session {session_id} in backup {version}"))),
            (Some(_), None) => {
                let sessions: Map<String, Value> = keys.into_iter().map(|(_, session, data)| (session, data)).collect();
                Ok(json!({ "sessions": sessions }))
            }
            _ => {
                let mut rooms = Map::new();
                for (room, session, data) in keys {
                    let entry = rooms
                        .entry(room.to_string())
                        .or_insert_with(|| json!({ "sessions": {} }));
                    entry["sessions"][session] = data;
                }
                Ok(json!({ "rooms": rooms }))
            }
        }
    }

    /// `DELETE /room_keys/keys[/{roomId}[/{sessionId}]]`. Returns `{etag, count}`.
    pub fn delete_backup_keys(&self, user_id: &UserId, version: &str, which: KeySelection<'_>) -> Result<Value> {
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
        Ok(json!({ "etag": info.etag.to_string(), "count": info.count }))
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
