//! The checks a user's room actions pass before anything is sent: not suspended, and within
//! the rate limits of joins, invites and room creation. Only what users ask for is counted;
//! what the server does on its own (notices, upgrades' joins) is not.

use ruma::{RoomId, UserId, events::room::member::MembershipState};

use crate::{AuthedUser, Result, Services, account_state::ensure_not_suspended, rate_limits::RateClass};

impl Services {
    /// A join (or knock) of `room_id`, over federation when `remote`. A join by a member
    /// already joined is a profile change, not a join: it is not counted (Synapse).
    pub(crate) fn gate_join(&self, user: &AuthedUser, room_id: &RoomId, remote: bool) -> Result<()> {
        ensure_not_suspended(self.db(), &user.user_id)?;
        self.ensure_not_blocked(room_id)?;
        let joined = self
            .db()
            .get_membership(&user.user_id, room_id)?
            .is_some_and(|record| record.membership == MembershipState::Join);
        if joined {
            return Ok(());
        }
        let limits = &self.rate_limits;
        limits.check_user(RateClass::JoinsLocal, user)?;
        if remote {
            limits.check_user(RateClass::JoinsRemote, user)?;
        }
        limits.check_for(RateClass::JoinsPerRoom, user, room_id.as_str(), 1)
    }

    /// An invite of `target` into `room_id` by `user`: counted for the room, the inviter and
    /// the invitee.
    pub(crate) fn gate_invite(&self, user: &AuthedUser, room_id: &RoomId, target: &UserId) -> Result<()> {
        ensure_not_suspended(self.db(), &user.user_id)?;
        self.ensure_not_blocked(room_id)?;
        let limits = &self.rate_limits;
        limits.check_for(RateClass::InvitesPerRoom, user, room_id.as_str(), 1)?;
        limits.check_user(RateClass::InvitesPerIssuer, user)?;
        limits.check_for(RateClass::InvitesPerUser, user, target.as_str(), 1)
    }

    /// A new room, with `invites` people invited at once.
    pub(crate) fn gate_create_room(&self, user: &AuthedUser, invites: usize) -> Result<()> {
        ensure_not_suspended(self.db(), &user.user_id)?;
        let limits = &self.rate_limits;
        limits.check_user(RateClass::RoomCreation, user)?;
        if invites > 0 {
            let n = u32::try_from(invites).unwrap_or(u32::MAX);
            limits.check_for(RateClass::InvitesPerIssuer, user, user.user_id.as_str(), n)?;
        }
        Ok(())
    }

    /// A room an admin blocked takes no joins or invites from this server's users (403, as
    /// Synapse answers).
    fn ensure_not_blocked(&self, room_id: &RoomId) -> Result<()> {
        if self.db().room_block(room_id)?.is_some() {
            return Err(crate::Error::forbidden(format!(
                "Room {room_id} has been blocked by the server's administrators"
            )));
        }
        Ok(())
    }
}
