//! Memberships, indexed both ways: a user's rooms and a room's members.

use super::RoomBatch;
use accord_storage::codec::{KeyBuilder, KeyReader};
use ruma::{OwnedRoomId, OwnedUserId, RoomId, UserId, events::room::member::MembershipState};
use serde::{Deserialize, Serialize};

use crate::{
    Db, Error, Result,
    database::encode,
    tables::{ROOMID_USERID_MEMBERSHIP, USERID_ROOMID_MEMBERSHIP},
};

/// A user's membership in one room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembershipRecord {
    /// `join`, `invite`, `leave`, `ban` or `knock` (stored as the spec's string).
    pub membership: MembershipState,
    /// The stream count at which it last changed.
    pub count: u64,
    /// Whether the user forgot the room (after leaving).
    #[serde(default)]
    pub forgotten: bool,
}

impl Db {
    /// A user's membership in a room, if they ever had one.
    pub fn get_membership(&self, user_id: &UserId, room_id: &RoomId) -> Result<Option<MembershipRecord>> {
        self.get_json(
            USERID_ROOMID_MEMBERSHIP,
            &KeyBuilder::new().str(user_id.as_str()).str(room_id.as_str()).build(),
        )
    }

    /// Queues recording a membership in the batch's room (both indexes).
    pub fn put_membership(&self, batch: &mut RoomBatch<'_>, user_id: &UserId, record: &MembershipRecord) {
        let room_id = batch.room_id().to_owned();
        let batch = batch.rows();
        batch.put(
            USERID_ROOMID_MEMBERSHIP,
            KeyBuilder::new().str(user_id.as_str()).str(room_id.as_str()).build(),
            encode(record),
        );
        batch.put(
            ROOMID_USERID_MEMBERSHIP,
            KeyBuilder::new().str(room_id.as_str()).str(user_id.as_str()).build(),
            record.membership.as_str().as_bytes().to_vec(),
        );
    }

    /// Queues recording that `user_id`'s membership became `membership` at `count`, unless it
    /// already is that: a join after a join (a profile change) is no membership change, and the
    /// record keeps the position of the real change, which `/sync` (newly joined rooms) and
    /// device lists (who started sharing a room) compare their windows against.
    pub fn put_membership_change(
        &self,
        batch: &mut RoomBatch<'_>,
        user_id: &UserId,
        membership: MembershipState,
        count: u64,
    ) -> Result<()> {
        let room_id = batch.room_id().to_owned();
        if self
            .get_membership(user_id, &room_id)?
            .is_some_and(|record| record.membership == membership)
        {
            return Ok(());
        }
        let record = MembershipRecord {
            membership,
            count,
            forgotten: false,
        };
        self.put_membership(batch, user_id, &record);
        Ok(())
    }

    /// Every room a user has a membership in, with it.
    pub fn rooms_of_user(&self, user_id: &UserId) -> Result<Vec<(OwnedRoomId, MembershipRecord)>> {
        let prefix = KeyBuilder::new().str(user_id.as_str()).prefix();
        self.scan_json::<MembershipRecord>(USERID_ROOMID_MEMBERSHIP, &prefix)?
            .into_iter()
            .map(|(key, record)| {
                let room = second_part(USERID_ROOMID_MEMBERSHIP, &key)?;
                let room = OwnedRoomId::try_from(room).map_err(|e| Error::Corrupt {
                    table: USERID_ROOMID_MEMBERSHIP,
                    reason: e.to_string(),
                })?;
                Ok((room, record))
            })
            .collect()
    }

    /// Whether a user of `server` is joined to the room; stops at the first one found.
    pub fn has_joined_member_of(&self, room_id: &RoomId, server: &ruma::ServerName) -> Result<bool> {
        let prefix = KeyBuilder::new().str(room_id.as_str()).prefix();
        for item in self
            .engine()
            .iter_prefix(ROOMID_USERID_MEMBERSHIP, &prefix, accord_storage::Direction::Forward)?
        {
            let (key, value) = item?;
            if value == b"join" {
                let user = second_part(ROOMID_USERID_MEMBERSHIP, &key)?;
                if UserId::parse(user.as_str()).is_ok_and(|user| user.server_name() == server) {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// Every user with a membership in a room, with the membership.
    pub fn members_of_room(&self, room_id: &RoomId) -> Result<Vec<(OwnedUserId, MembershipState)>> {
        let prefix = KeyBuilder::new().str(room_id.as_str()).prefix();
        self.engine()
            .iter_prefix(ROOMID_USERID_MEMBERSHIP, &prefix, accord_storage::Direction::Forward)?
            .map(|item| {
                let (key, value) = item?;
                let user = second_part(ROOMID_USERID_MEMBERSHIP, &key)?;
                let user = OwnedUserId::try_from(user).map_err(|e| Error::Corrupt {
                    table: ROOMID_USERID_MEMBERSHIP,
                    reason: e.to_string(),
                })?;
                let membership = std::str::from_utf8(&value).map_err(|e| Error::Corrupt {
                    table: ROOMID_USERID_MEMBERSHIP,
                    reason: e.to_string(),
                })?;
                Ok((user, MembershipState::from(membership)))
            })
            .collect()
    }
}

fn second_part(table: &'static str, key: &[u8]) -> Result<String> {
    let mut reader = KeyReader::new(key);
    let corrupt = |e: accord_storage::codec::CodecError| Error::Corrupt {
        table,
        reason: e.to_string(),
    };
    reader.str().map_err(corrupt)?;
    Ok(reader.str().map_err(corrupt)?.to_owned())
}
