//! Membership rows that no event stored here carries: a remote invite or knock pending (the
//! room lives on another server), its end without a join, and forgetting a left room. They
//! share the membership tables with the room's own events, so they are written under the
//! room's lock like every other room write, and a concurrent join can't be overwritten.

use accord_db::rooms::{MembershipRecord, RemoteInvite};
use ruma::{RoomId, UserId, events::room::member::MembershipState};

use crate::{Result, Rooms};

/// What [`Rooms::forget`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forget {
    /// The room is forgotten (or was already).
    Forgotten,
    /// The user never had a membership in the room.
    NeverMember,
    /// The user is still joined, invited or knocking: they must leave first.
    StillMember,
}

impl Rooms {
    /// Records a pending remote invite or knock (`membership` `invite` or `knock`, with the
    /// room's stripped state), or its end without joining (`leave`, no record, and the leave
    /// event to show when there is one), at the next stream position so `/sync` shows the
    /// change. Returns the position.
    pub async fn record_remote_membership(
        &self,
        user_id: &UserId,
        room_id: &RoomId,
        membership: MembershipState,
        invite: Option<&RemoteInvite>,
        leave_event: Option<&serde_json::Value>,
    ) -> Result<u64> {
        let guard = self.lock(room_id).await;
        let db = &self.db;
        Ok(db.write_room_at_next_count(&guard, |batch, count| {
            match invite {
                Some(invite) => db.put_remote_invite(batch.rows(), user_id, room_id, invite),
                None => db.delete_remote_invite(batch.rows(), user_id, room_id),
            }
            db.set_out_of_band_leave(batch.rows(), user_id, room_id, leave_event);
            let record = MembershipRecord {
                membership: membership.clone(),
                count,
                forgotten: false,
            };
            db.put_membership(batch, user_id, &record);
            db.put_room_change(batch.rows(), room_id, count);
        })?)
    }

    /// Marks a room the user has left as forgotten: it disappears from their sync.
    pub async fn forget(&self, user_id: &UserId, room_id: &RoomId) -> Result<Forget> {
        let guard = self.lock(room_id).await;
        let Some(mut record) = self.db.get_membership(user_id, room_id)? else {
            return Ok(Forget::NeverMember);
        };
        if matches!(
            record.membership,
            MembershipState::Join | MembershipState::Invite | MembershipState::Knock
        ) {
            return Ok(Forget::StillMember);
        }
        record.forgotten = true;
        let mut batch = guard.batch();
        self.db.put_membership(&mut batch, user_id, &record);
        self.db.write_room(batch)?;
        Ok(Forget::Forgotten)
    }
}
