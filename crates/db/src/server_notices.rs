//! Each user's server notices room (spec: "Server Notices"): one per user, kept so a user who
//! left it is invited back to the same room by the next notice.

use accord_storage::WriteBatch;
use ruma::{OwnedRoomId, RoomId, UserId};

use crate::{Db, Result, database::decode_id, tables::USERID_NOTICEROOM};

impl Db {
    /// The user's server notices room, once made.
    pub fn notice_room(&self, user_id: &UserId) -> Result<Option<OwnedRoomId>> {
        self.get_raw(USERID_NOTICEROOM, user_id.as_bytes())?
            .map(|bytes| decode_id(USERID_NOTICEROOM, &bytes))
            .transpose()
    }

    /// Records the user's server notices room.
    pub fn put_notice_room(&self, user_id: &UserId, room_id: &RoomId) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.put(USERID_NOTICEROOM, user_id.as_bytes(), room_id.as_bytes());
        self.write(batch)
    }
}
