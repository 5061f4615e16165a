//! Shadow-banned users (an admin's measure against spammers, as on Synapse): their messages,
//! state events and invites are answered as if sent, but nothing is stored or sent, so they
//! have no signal to register again elsewhere. Leaving, reading and profile changes work.

use ruma::OwnedEventId;

use super::RoomService;
use crate::{AuthedUser, Result, tokens::random_alphanumeric};

/// An event id in the room version 4+ format that names no event.
pub(super) fn stand_in_event_id() -> OwnedEventId {
    let id = format!("${}", random_alphanumeric(43));
    OwnedEventId::try_from(id).unwrap_or_else(|_| ruma::owned_event_id!("$shadowbanned"))
}

impl RoomService {
    /// Whether the user's sends go nowhere. Application services are never shadow-banned.
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
