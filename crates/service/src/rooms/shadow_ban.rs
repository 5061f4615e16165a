//! Shadow-banned users (an admin's measure against spammers, as on Synapse): their messages,
//! state events and invites are answered as if sent, but nothing is stored or sent, so they
//! have no signal to register again elsewhere. Leaving, reading and profile changes work.
//! The check rides on the sender checks every send makes, so it costs no extra read.

use ruma::OwnedEventId;

use super::RoomService;
use crate::{AuthedUser, Result, rate_limits::RateClass, tokens::random_alphanumeric};

/// An event id in the room version 4+ format that names no event.
pub(super) fn stand_in_event_id() -> OwnedEventId {
    let id = format!("${}", random_alphanumeric(43));
    OwnedEventId::try_from(id).unwrap_or_else(|_| ruma::owned_event_id!("$shadowbanned"))
}

impl RoomService {
    /// What [`Self::may_send`] checks (not suspended, within the rate limit), reading the
    /// account once for the shadow ban too: whether what the user sends must vanish.
    /// Application services are never shadow-banned.
    pub(super) fn check_sender(&self, user: &AuthedUser, class: RateClass) -> Result<bool> {
        let account = self.rooms.db().get_account(&user.user_id)?;
        if account.as_ref().is_some_and(|account| account.suspended) {
            return Err(crate::account_state::suspended());
        }
        self.rate_limits.check_user(class, user)?;
        Ok(user.appservice.is_none() && account.is_some_and(|account| account.shadow_banned))
    }

    /// Whether the user's invites go nowhere.
    pub(super) fn shadow_banned(&self, user: &AuthedUser) -> Result<bool> {
        if user.appservice.is_some() {
            return Ok(false);
        }
        Ok(self
            .rooms
            .db()
            .get_account(&user.user_id)?
            .is_some_and(|account| account.shadow_banned))
    }
}
