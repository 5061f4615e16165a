//! Room aliases and the public room directory.

use crate::database::decode_id;
use accord_storage::{WriteBatch, codec::KeyBuilder};
use ruma::{OwnedRoomAliasId, OwnedRoomId, OwnedUserId, RoomAliasId, RoomId};
use serde::{Deserialize, Serialize};

use crate::{
    Db, Result,
    database::encode,
    tables::{ALIAS_ALIASRECORD, ROOMID_ALIAS, ROOMID_PUBLISHED},
};

/// Where an alias points and who made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AliasRecord {
    /// The room.
    pub room_id: OwnedRoomId,
    /// Who created the alias (may delete it without power).
    pub creator: OwnedUserId,
}

impl Db {
    /// Where a local alias points.
    pub fn get_alias(&self, alias: &RoomAliasId) -> Result<Option<AliasRecord>> {
        self.get_json(ALIAS_ALIASRECORD, alias.as_bytes())
    }

    /// Queues creating an alias.
    pub fn put_alias(&self, batch: &mut WriteBatch, alias: &RoomAliasId, record: &AliasRecord) {
        batch.put(ALIAS_ALIASRECORD, alias.as_bytes(), encode(record));
        batch.put(
            ROOMID_ALIAS,
            KeyBuilder::new()
                .str(record.room_id.as_str())
                .str(alias.as_str())
                .build(),
            Vec::new(),
        );
    }

    /// Queues removing an alias.
    pub fn delete_alias(&self, batch: &mut WriteBatch, alias: &RoomAliasId, room_id: &RoomId) {
        batch.delete(ALIAS_ALIASRECORD, alias.as_bytes());
        batch.delete(
            ROOMID_ALIAS,
            KeyBuilder::new().str(room_id.as_str()).str(alias.as_str()).build(),
        );
    }

    /// The local aliases of a room.
    pub fn aliases_of_room(&self, room_id: &RoomId) -> Result<Vec<OwnedRoomAliasId>> {
        let prefix = KeyBuilder::new().str(room_id.as_str()).prefix();
        self.scan_keys(ROOMID_ALIAS, &prefix)?
            .into_iter()
            .map(|key| decode_id(ROOMID_ALIAS, &key[prefix.len()..]))
            .collect()
    }

    /// Whether a room is published in the directory.
    pub fn is_published(&self, room_id: &RoomId) -> Result<bool> {
        Ok(self.get_raw(ROOMID_PUBLISHED, room_id.as_bytes())?.is_some())
    }

    /// Queues publishing or unpublishing a room.
    pub fn set_published(&self, batch: &mut WriteBatch, room_id: &RoomId, published: bool) {
        if published {
            batch.put(ROOMID_PUBLISHED, room_id.as_bytes(), Vec::new());
        } else {
            batch.delete(ROOMID_PUBLISHED, room_id.as_bytes());
        }
    }

    /// Every published room.
    pub fn published_rooms(&self) -> Result<Vec<OwnedRoomId>> {
        self.scan_keys(ROOMID_PUBLISHED, b"")?
            .into_iter()
            .map(|key| decode_id(ROOMID_PUBLISHED, &key))
            .collect()
    }
}
