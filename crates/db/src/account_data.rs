//! Account data, global and per room (room tags and push rules live here too, as the spec's
//! `m.tag` and `m.push_rules` events).

use accord_storage::{
    WriteBatch,
    codec::{KeyBuilder, KeyReader},
};
use ruma::{RoomId, UserId};
use serde_json::Value;

use crate::{Db, Error, Result, database::encode, tables::USERID_ROOMID_TYPE_ACCOUNTDATA};

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

    /// Queues setting one account data event.
    pub fn put_account_data(
        &self,
        batch: &mut WriteBatch,
        user_id: &UserId,
        room_id: Option<&RoomId>,
        kind: &str,
        content: &Value,
    ) {
        batch.put(
            USERID_ROOMID_TYPE_ACCOUNTDATA,
            key(user_id, room_id, kind),
            encode(content),
        );
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
