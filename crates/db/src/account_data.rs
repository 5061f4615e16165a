//! Account data, global and per room (room tags and push rules live here too, as the spec's
//! `m.tag` and `m.push_rules` events).

use accord_storage::{
    WriteBatch,
    codec::{KeyBuilder, KeyReader},
};
use ruma::{RoomId, UserId};
use serde_json::Value;

use crate::{
    Db, Error, Result,
    database::encode,
    tables::{COUNT_USERID, USERID_COUNT_ACCOUNTDATAKEY, USERID_ROOMID_TYPE_ACCOUNTDATA},
};

fn key(user_id: &UserId, room_id: Option<&RoomId>, kind: &str) -> Vec<u8> {
    KeyBuilder::new()
        .str(user_id.as_str())
        .str(room_id.map(RoomId::as_str).unwrap_or(""))
        .str(kind)
        .build()
}

impl Db {
    /// The content of one account data event; `room_id = None` for global account data.
    pub fn get_account_data(&self, user_id: &UserId, room_id: Option<&RoomId>, kind: &str) -> Result<Option<Value>> {
        self.get_json(USERID_ROOMID_TYPE_ACCOUNTDATA, &key(user_id, room_id, kind))
    }

    /// Queues setting one account data event, recording the change at stream position `count`.
    pub fn put_account_data(
        &self,
        batch: &mut WriteBatch,
        user_id: &UserId,
        room_id: Option<&RoomId>,
        kind: &str,
        content: &Value,
        count: u64,
    ) {
        batch.put(
            USERID_ROOMID_TYPE_ACCOUNTDATA,
            key(user_id, room_id, kind),
            encode(content),
        );
        batch.put(
            USERID_COUNT_ACCOUNTDATAKEY,
            KeyBuilder::new().str(user_id.as_str()).u64(count).build(),
            KeyBuilder::new()
                .str(room_id.map(RoomId::as_str).unwrap_or(""))
                .str(kind)
                .build(),
        );
        batch.put(COUNT_USERID, count.to_be_bytes(), user_id.as_bytes());
    }

    /// Account data `(room, type)` pairs of `user_id` changed at positions in `(since, until]`.
    pub fn account_data_changes(
        &self,
        user_id: &UserId,
        since: u64,
        until: u64,
    ) -> Result<Vec<(Option<ruma::OwnedRoomId>, String)>> {
        let prefix = KeyBuilder::new().str(user_id.as_str()).prefix();
        let start = KeyBuilder::new()
            .str(user_id.as_str())
            .u64(since.saturating_add(1))
            .build();
        let corrupt = |reason: String| Error::Corrupt {
            table: USERID_COUNT_ACCOUNTDATAKEY,
            reason,
        };
        let mut changes = Vec::new();
        for item in self.engine().iter_from(
            USERID_COUNT_ACCOUNTDATAKEY,
            Some(&start),
            accord_storage::Direction::Forward,
        )? {
            let (key, value) = item?;
            if !key.starts_with(&prefix) {
                break;
            }
            let mut reader = KeyReader::new(&key);
            reader.str().map_err(|e| corrupt(e.to_string()))?;
            if reader.u64().map_err(|e| corrupt(e.to_string()))? > until {
                break;
            }
            let mut reader = KeyReader::new(&value);
            let room = reader.str().map_err(|e| corrupt(e.to_string()))?;
            let kind = reader.str().map_err(|e| corrupt(e.to_string()))?.to_owned();
            let room = if room.is_empty() {
                None
            } else {
                Some(ruma::OwnedRoomId::try_from(room).map_err(|e| corrupt(e.to_string()))?)
            };
            if !changes.contains(&(room.clone(), kind.clone())) {
                changes.push((room, kind));
            }
        }
        Ok(changes)
    }

    /// Queues removing one account data event.
    pub fn delete_account_data(&self, batch: &mut WriteBatch, user_id: &UserId, room_id: Option<&RoomId>, kind: &str) {
        batch.delete(USERID_ROOMID_TYPE_ACCOUNTDATA, key(user_id, room_id, kind));
    }

    /// Every account data event of `user_id` in one scope (`None` = global): `(type, content)`.
    pub fn account_data_in(&self, user_id: &UserId, room_id: Option<&RoomId>) -> Result<Vec<(String, Value)>> {
        let prefix = KeyBuilder::new()
            .str(user_id.as_str())
            .str(room_id.map(RoomId::as_str).unwrap_or(""))
            .prefix();
        self.scan_json(USERID_ROOMID_TYPE_ACCOUNTDATA, &prefix)?
            .into_iter()
            .map(|(key, value)| {
                let corrupt = |reason: String| Error::Corrupt {
                    table: USERID_ROOMID_TYPE_ACCOUNTDATA,
                    reason,
                };
                let mut reader = KeyReader::new(&key);
                reader.str().map_err(|e| corrupt(e.to_string()))?;
                reader.str().map_err(|e| corrupt(e.to_string()))?;
                let kind = reader.str().map_err(|e| corrupt(e.to_string()))?;
                Ok((kind.to_owned(), value))
            })
            .collect()
    }
}
