//! Where the retention job stands in each room: the timeline position up to which expired
//! events were pruned, written after each batch, so a stopped or crashed run resumes there
//! (a batch pruned but not yet recorded is pruned again, which changes nothing).

use ruma::RoomId;

use crate::{Db, Error, Result, WriteBatch, tables::ROOMID_RETENTIONCURSOR};

impl Db {
    /// The position the job reached in `room_id` (0 before its first run there).
    pub fn retention_cursor(&self, room_id: &RoomId) -> Result<u64> {
        match self.get_raw(ROOMID_RETENTIONCURSOR, room_id.as_bytes())? {
            None => Ok(0),
            Some(bytes) => <[u8; 8]>::try_from(bytes.as_slice())
                .map(u64::from_be_bytes)
                .map_err(|_| Error::Corrupt {
                    table: ROOMID_RETENTIONCURSOR,
                    reason: "a retention cursor is not 8 bytes".to_owned(),
                }),
        }
    }

    /// Records that `room_id` is pruned up to `position`.
    pub fn put_retention_cursor(&self, room_id: &RoomId, position: u64) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.put(ROOMID_RETENTIONCURSOR, room_id.as_bytes(), position.to_be_bytes());
        self.write(batch)
    }
}
