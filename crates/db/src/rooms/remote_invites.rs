//! Invites of local users to rooms this server is not in: what the inviting server sent (the
//! stripped room state shown in `/sync`) and which servers to join or reject through.

use accord_storage::{WriteBatch, codec::KeyBuilder};
use ruma::{OwnedServerName, RoomId, UserId};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{
    Db, Result,
    database::encode,
    tables::{USERID_ROOMID_OUTOFBANDLEAVE, USERID_ROOMID_REMOTEINVITE},
};

/// An invite received over federation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemoteInvite {
    /// Stripped state events (`type`, `state_key`, `content`, `sender`), the invite included.
    pub stripped_state: Vec<Value>,
    /// Servers in the room: the inviter's first.
    pub servers: Vec<OwnedServerName>,
}

fn key(user_id: &UserId, room_id: &RoomId) -> Vec<u8> {
    KeyBuilder::new().str(user_id.as_str()).str(room_id.as_str()).build()
}

impl Db {
    /// The pending remote invite of `user_id` to `room_id`.
    pub fn remote_invite(&self, user_id: &UserId, room_id: &RoomId) -> Result<Option<RemoteInvite>> {
        self.get_json(USERID_ROOMID_REMOTEINVITE, &key(user_id, room_id))
    }

    /// Queues recording a remote invite.
    pub fn put_remote_invite(&self, batch: &mut WriteBatch, user_id: &UserId, room_id: &RoomId, invite: &RemoteInvite) {
        batch.put(USERID_ROOMID_REMOTEINVITE, key(user_id, room_id), encode(invite));
    }

    /// Queues forgetting a remote invite (joined, rejected or retracted).
    pub fn delete_remote_invite(&self, batch: &mut WriteBatch, user_id: &UserId, room_id: &RoomId) {
        batch.delete(USERID_ROOMID_REMOTEINVITE, key(user_id, room_id));
    }

    /// The user's leave of a room this server is not in, as their clients see it: the event
    /// the room's server accepted, or one made up here when no server could be reached.
    pub fn out_of_band_leave(&self, user_id: &UserId, room_id: &RoomId) -> Result<Option<Value>> {
        self.get_json(USERID_ROOMID_OUTOFBANDLEAVE, &key(user_id, room_id))
    }

    /// Queues recording (`Some`) or forgetting (`None`) the user's out-of-band leave.
    pub fn set_out_of_band_leave(
        &self,
        batch: &mut WriteBatch,
        user_id: &UserId,
        room_id: &RoomId,
        leave: Option<&Value>,
    ) {
        match leave {
            Some(leave) => batch.put(USERID_ROOMID_OUTOFBANDLEAVE, key(user_id, room_id), encode(leave)),
            None => batch.delete(USERID_ROOMID_OUTOFBANDLEAVE, key(user_id, room_id)),
        }
    }
}
