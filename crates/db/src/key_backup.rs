//! Server-side room key backups: each user's backup versions (algorithm, `auth_data`, an etag
//! counter) and the encrypted session keys stored in them, by room and session.

use accord_storage::{
    Direction, WriteBatch,
    codec::{KeyBuilder, KeyReader},
};
use ruma::{OwnedRoomId, RoomId, UserId};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{
    Db, Error, Result,
    database::{decode, encode},
    tables::{USERID_VERSION_BACKUP, USERID_VERSION_ROOMID_SESSIONID_BACKUPKEY},
};

/// One backup version. Deleted versions stay as tombstones so their numbers are never reused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupVersion {
    /// The backup algorithm.
    pub algorithm: String,
    /// Algorithm-specific data (the public key and its signatures).
    pub auth_data: Value,
    /// Changes whenever the keys in the backup change.
    pub etag: u64,
    /// How many session keys it holds.
    #[serde(default)]
    pub count: u64,
    /// Whether the version was deleted.
    pub deleted: bool,
}

fn corrupt(err: accord_storage::codec::CodecError) -> Error {
    Error::Corrupt {
        table: USERID_VERSION_ROOMID_SESSIONID_BACKUPKEY,
        reason: err.0,
    }
}

fn keys_prefix(user_id: &UserId, version: u64, room_id: Option<&RoomId>, session_id: Option<&str>) -> Vec<u8> {
    let mut builder = KeyBuilder::new().str(user_id.as_str()).u64(version);
    if let Some(room_id) = room_id {
        builder = builder.str(room_id.as_str());
        if let Some(session_id) = session_id {
            return builder.str(session_id).build();
        }
    }
    builder.prefix()
}

impl Db {
    /// One backup version of a user, deleted or not.
    pub fn get_backup_version(&self, user_id: &UserId, version: u64) -> Result<Option<BackupVersion>> {
        let key = KeyBuilder::new().str(user_id.as_str()).u64(version).build();
        self.get_json(USERID_VERSION_BACKUP, &key)
    }

    /// The user's newest backup version that isn't deleted.
    pub fn current_backup_version(&self, user_id: &UserId) -> Result<Option<(u64, BackupVersion)>> {
        let prefix = KeyBuilder::new().str(user_id.as_str()).prefix();
        for item in self
            .engine()
            .iter_prefix(USERID_VERSION_BACKUP, &prefix, Direction::Backward)?
        {
            let (key, value) = item?;
            let version: BackupVersion = decode(USERID_VERSION_BACKUP, &value)?;
            if !version.deleted {
                let mut reader = KeyReader::new(&key);
                reader.str().map_err(corrupt)?;
                return Ok(Some((reader.u64().map_err(corrupt)?, version)));
            }
        }
        Ok(None)
    }

    /// The highest version number the user ever had (0: none).
    pub fn last_backup_version_number(&self, user_id: &UserId) -> Result<u64> {
        let prefix = KeyBuilder::new().str(user_id.as_str()).prefix();
        match self
            .engine()
            .iter_prefix(USERID_VERSION_BACKUP, &prefix, Direction::Backward)?
            .next()
        {
            Some(item) => {
                let (key, _) = item?;
                let mut reader = KeyReader::new(&key);
                reader.str().map_err(corrupt)?;
                reader.u64().map_err(corrupt)
            }
            None => Ok(0),
        }
    }

    /// Queues storing a backup version.
    pub fn put_backup_version(&self, batch: &mut WriteBatch, user_id: &UserId, version: u64, info: &BackupVersion) {
        let key = KeyBuilder::new().str(user_id.as_str()).u64(version).build();
        batch.put(USERID_VERSION_BACKUP, key, encode(info));
    }

    /// Keys in a backup: all, a room's, or one session's, as `(room, session, key data)`.
    pub fn backup_keys(
        &self,
        user_id: &UserId,
        version: u64,
        room_id: Option<&RoomId>,
        session_id: Option<&str>,
    ) -> Result<Vec<(OwnedRoomId, String, Value)>> {
        let table = USERID_VERSION_ROOMID_SESSIONID_BACKUPKEY;
        if let (Some(room_id), Some(session_id)) = (room_id, session_id) {
            let key = keys_prefix(user_id, version, Some(room_id), Some(session_id));
            return Ok(self
                .get_json::<Value>(table, &key)?
                .map(|data| vec![(room_id.to_owned(), session_id.to_owned(), data)])
                .unwrap_or_default());
        }
        let prefix = keys_prefix(user_id, version, room_id, None);
        let mut out = Vec::new();
        for item in self.engine().iter_prefix(table, &prefix, Direction::Forward)? {
            let (key, value) = item?;
            let mut reader = KeyReader::new(&key);
            reader.str().map_err(corrupt)?;
            reader.u64().map_err(corrupt)?;
            let room = reader.str().map_err(corrupt)?;
            let session = reader.str().map_err(corrupt)?.to_owned();
            let room = OwnedRoomId::try_from(room).map_err(|err| Error::Corrupt {
                table,
                reason: err.to_string(),
            })?;
            out.push((room, session, decode(table, &value)?));
        }
        Ok(out)
    }

    /// Queues storing one session's key in a backup.
    pub fn put_backup_key(
        &self,
        batch: &mut WriteBatch,
        user_id: &UserId,
        version: u64,
        room_id: &RoomId,
        session_id: &str,
        data: &Value,
    ) {
        let key = keys_prefix(user_id, version, Some(room_id), Some(session_id));
        batch.put(USERID_VERSION_ROOMID_SESSIONID_BACKUPKEY, key, encode(data));
    }

    /// Queues deleting keys of a backup: all, a room's, or one session's. Returns how many.
    pub fn delete_backup_keys(
        &self,
        batch: &mut WriteBatch,
        user_id: &UserId,
        version: u64,
        room_id: Option<&RoomId>,
        session_id: Option<&str>,
    ) -> Result<usize> {
        let table = USERID_VERSION_ROOMID_SESSIONID_BACKUPKEY;
        if room_id.is_some() && session_id.is_some() {
            let key = keys_prefix(user_id, version, room_id, session_id);
            let present = self.get_raw(table, &key)?.is_some();
            batch.delete(table, key);
            return Ok(usize::from(present));
        }
        let prefix = keys_prefix(user_id, version, room_id, None);
        let mut removed = 0;
        for item in self.engine().iter_prefix(table, &prefix, Direction::Forward)? {
            batch.delete(table, item?.0);
            removed += 1;
        }
        Ok(removed)
    }
}
