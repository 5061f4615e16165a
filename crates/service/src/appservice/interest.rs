//! Which events and rooms a service is interested in (spec: application-service-api.md,
//! "Pushing events"; the rules as Synapse applies them): an event whose sender is its user,
//! a membership event about its user, and every event of a room it is interested in, which is
//! a room whose id is in its room namespace, that has a local alias in its alias namespace, or
//! where one of its users is joined.

use std::collections::HashMap;

use accord_core::{
    Pdu,
    appservice::{NamespaceKind, Registration},
};
use ruma::{OwnedRoomId, RoomId, UserId, events::room::member::MembershipState};

use crate::{Result, Services};

/// Room interest, each room looked up once per transaction.
#[derive(Debug, Default)]
pub(super) struct RoomInterest {
    known: HashMap<OwnedRoomId, bool>,
}

impl RoomInterest {
    /// Whether `registration` is interested in the room as a whole.
    pub(super) fn room(&mut self, services: &Services, registration: &Registration, room_id: &RoomId) -> Result<bool> {
        if let Some(known) = self.known.get(room_id) {
            return Ok(*known);
        }
        let interested = room_interest(services, registration, room_id)?;
        self.known.insert(room_id.to_owned(), interested);
        Ok(interested)
    }

    /// Whether `registration` is interested in a user: its own, or joined to a room it is
    /// interested in (whose presence and device list changes it then hears of).
    pub(super) fn user(&mut self, services: &Services, registration: &Registration, user: &UserId) -> Result<bool> {
        if registration.may_act_as(user) {
            return Ok(true);
        }
        for (room_id, record) in services.db().rooms_of_user(user)? {
            if record.membership == MembershipState::Join && self.room(services, registration, &room_id)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Whether `registration` is interested in `pdu`.
    pub(super) fn event(&mut self, services: &Services, registration: &Registration, pdu: &Pdu) -> Result<bool> {
        if registration.may_act_as(&pdu.sender) {
            return Ok(true);
        }
        if let Some((target, _)) = pdu.member_change()
            && registration.may_act_as(&target)
        {
            return Ok(true);
        }
        self.room(services, registration, &pdu.room_id)
    }
}

fn room_interest(services: &Services, registration: &Registration, room_id: &RoomId) -> Result<bool> {
    if registration.matches(NamespaceKind::Rooms, room_id.as_str()) {
        return Ok(true);
    }
    let db = services.db();
    if !registration.namespaces.aliases.is_empty()
        && db
            .aliases_of_room(room_id)?
            .iter()
            .any(|alias| registration.matches(NamespaceKind::Aliases, alias.as_str()))
    {
        return Ok(true);
    }
    let server_name = &services.config.server_name;
    Ok(db.members_of_room(room_id)?.iter().any(|(user, membership)| {
        *membership == MembershipState::Join && user.server_name() == server_name && registration.may_act_as(user)
    }))
}
