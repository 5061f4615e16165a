//! Rooms blocked by an admin (Synapse's room block): local users can't join them or be
//! invited to them, whether or not the server knows the room yet.

use ruma::{OwnedUserId, RoomId};
use serde::{Deserialize, Serialize};

use crate::{Db, Result, WriteBatch, database::encode, tables::ROOMID_BLOCK};

/// Who blocked a room and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomBlock {
    /// The admin.
    pub user_id: OwnedUserId,
    /// When, ms since the epoch.
    pub ts: u64,
}

impl Db {
    /// The block of `room_id`, if any.
    pub fn room_block(&self, room_id: &RoomId) -> Result<Option<RoomBlock>> {
        self.get_json(ROOMID_BLOCK, room_id.as_bytes())
    }

    /// Queues blocking (`Some`) or unblocking (`None`) `room_id`.
    pub fn put_room_block(&self, batch: &mut WriteBatch, room_id: &RoomId, block: Option<&RoomBlock>) {
        match block {
            Some(block) => batch.put(ROOMID_BLOCK, room_id.as_bytes(), encode(block)),
            None => batch.delete(ROOMID_BLOCK, room_id.as_bytes()),
        }
    }
}
