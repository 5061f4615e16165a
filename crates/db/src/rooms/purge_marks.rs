//! Rooms whose purge has begun. A purge is many batches; its mark is written before the first
//! and removed with the room's metadata in the last, so after a crash the server knows which
//! rooms are half gone: it finishes their purges at start, and until then answers for them as
//! for rooms it doesn't know (their state may already be gone).

use ruma::{OwnedRoomId, OwnedUserId, RoomId};
use serde::{Deserialize, Serialize};

use crate::{
    Db, Result, WriteBatch,
    database::{decode_id, encode},
    tables::ROOMID_PURGE,
};

/// Who began a room's purge and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomPurgeMark {
    /// The admin who asked for it.
    pub admin: OwnedUserId,
    /// When it began, ms since the epoch.
    pub ts: u64,
}

impl Db {
    /// Durably marks `room_id` as being purged, before its first row goes.
    pub fn mark_room_purge(&self, room_id: &RoomId, mark: &RoomPurgeMark) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.put(ROOMID_PURGE, room_id.as_bytes(), encode(mark));
        self.write(batch)
    }

    /// The mark of `room_id`'s unfinished purge, if any.
    pub fn room_purge_mark(&self, room_id: &RoomId) -> Result<Option<RoomPurgeMark>> {
        self.get_json(ROOMID_PURGE, room_id.as_bytes())
    }

    /// Every unfinished purge (cut short by a crash, or running now).
    pub fn unfinished_room_purges(&self) -> Result<Vec<(OwnedRoomId, RoomPurgeMark)>> {
        self.scan_json::<RoomPurgeMark>(ROOMID_PURGE, b"")?
            .into_iter()
            .map(|(key, mark)| Ok((decode_id(ROOMID_PURGE, &key)?, mark)))
            .collect()
    }
}
