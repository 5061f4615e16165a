//! Sending: message events (idempotent per device transaction id), state events, redactions.

use accord_room::{PduTemplate, TxnInfo};
use ruma::{
    EventId, OwnedEventId, RoomId,
    events::{
        StateEventType, TimelineEventType,
        room::{
            create::RoomCreateEventContent,
            member::MembershipState,
            power_levels::{PowerLevelAction, RoomPowerLevels, RoomPowerLevelsEventContent, RoomPowerLevelsSource},
        },
    },
};
use serde_json::Value;

use super::RoomService;
use crate::{AuthedUser, Error, Result, rate_limits::RateClass};

/// State types whose content clients may not set through the generic state endpoint.
const NOT_CLIENT_SETTABLE: &[&str] = &["m.room.create"];

impl RoomService {
    /// `PUT /rooms/{roomId}/send/{eventType}/{txnId}`.
    pub async fn send_message(
        &self,
        user: &AuthedUser,
        room_id: &RoomId,
        kind: &str,
        txn_id: &str,
        content: Value,
    ) -> Result<OwnedEventId> {
        self.send_message_at(user, room_id, kind, txn_id, content, None).await
    }

    /// [`Self::send_message`] with the `origin_server_ts` an application service chose
    /// (timestamp massaging); `None` for now.
    pub async fn send_message_at(
        &self,
        user: &AuthedUser,
        room_id: &RoomId,
        kind: &str,
        txn_id: &str,
        content: Value,
        origin_server_ts: Option<u64>,
    ) -> Result<OwnedEventId> {
        let endpoint = format!("{room_id}/send/{kind}");
        let earlier = || {
            self.rooms
                .db()
                .get_txn_event(&user.user_id, &user.device_id, &endpoint, txn_id)
        };
        if let Some(event_id) = earlier()? {
            return Ok(event_id);
        }
        // After the transaction check: a retry of a sent event is no new event.
        let vanishes = self.check_sender(user, RateClass::Message)?;
        if !content.is_object() {
            return Err(Error::bad_json("Event content must be a JSON object"));
        }
        if vanishes {
            return Ok(super::shadow_ban::stand_in_event_id());
        }
        let guard = self.rooms.lock(room_id).await;
        // Re-check under the lock: a concurrent retry of the same transaction may have won.
        if let Some(event_id) = earlier()? {
            return Ok(event_id);
        }
        self.rooms.room_version(room_id)?;
        let template = PduTemplate::message(TimelineEventType::from(kind), content).at(origin_server_ts);
        let txn = TxnInfo {
            device_id: user.device_id.clone(),
            endpoint,
            txn_id: txn_id.to_owned(),
        };
        Ok(self
            .rooms
            .send_and_release(guard, &user.user_id, template, Some(txn))
            .await?)
    }

    /// `PUT /rooms/{roomId}/state/{eventType}/{stateKey}`.
    pub async fn send_state(
        &self,
        user: &AuthedUser,
        room_id: &RoomId,
        kind: &str,
        state_key: &str,
        content: Value,
    ) -> Result<OwnedEventId> {
        self.send_state_at(user, room_id, kind, state_key, content, None).await
    }

    /// [`Self::send_state`] with the `origin_server_ts` an application service chose.
    pub async fn send_state_at(
        &self,
        user: &AuthedUser,
        room_id: &RoomId,
        kind: &str,
        state_key: &str,
        content: Value,
        origin_server_ts: Option<u64>,
    ) -> Result<OwnedEventId> {
        // 400, not 403: the request is malformed whoever sends it (Synapse answers so;
        // Complement's TestMSC4291RoomIDAsHashOfCreateEvent_CannotSendCreateEvent).
        if NOT_CLIENT_SETTABLE.contains(&kind) {
            return Err(Error::bad_json(format!(
                "{kind} cannot be changed after the room is created"
            )));
        }
        if !content.is_object() {
            return Err(Error::bad_json("Event content must be a JSON object"));
        }
        if kind == "m.room.canonical_alias" {
            self.check_canonical_alias(room_id, &content)?;
        }
        let leaving = kind == "m.room.member"
            && state_key == user.user_id.as_str()
            && content["membership"].as_str() == Some("leave");
        if leaving {
            // Leaving stays open to suspended and shadow-banned users (spec: "Account
            // suspension"; Synapse lets shadow-banned users leave too).
            self.rate_limits.check_user(RateClass::Message, user)?;
        } else if self.check_sender(user, RateClass::Message)? {
            return Ok(super::shadow_ban::stand_in_event_id());
        }
        let guard = self.rooms.lock(room_id).await;
        self.rooms.room_version(room_id)?;
        let kind = StateEventType::from(kind);
        // The same state from the same sender again is no new event: the current one's id is
        // the answer. The spec is silent; Synapse does this, clients that re-send state on
        // reconnect rely on it, and Complement's TestRoomCreationReportsEventsToMyself checks it.
        let current = self.rooms.current_state(room_id)?;
        if kind == StateEventType::RoomPowerLevels {
            self.check_power_levels_name_no_creator(&current, &content)?;
        }
        let mut content = content;
        if kind == StateEventType::RoomMember
            && let Ok(target) = ruma::UserId::parse(state_key)
        {
            match content["membership"].as_str() {
                Some("invite") => self.check_invite_permitted(&target, &user.user_id)?,
                // Only a join into a restricted room is authorised through a resident user; on
                // a join after a join (a profile change) the auth rules ignore the field, and
                // one that isn't a user id would make the event unbuildable (Complement's
                // restricted room tests send `"unused"` there).
                Some("join") if self.rooms.membership_in(&current, &target)? == Some(MembershipState::Join) => {
                    if let Some(fields) = content.as_object_mut() {
                        fields.remove("join_authorised_via_users_server");
                    }
                }
                _ => {}
            }
        }
        if let Some(existing) = self.rooms.state_event(&current, &kind, state_key)?
            && existing.sender == user.user_id
            && existing.content_value() == content
        {
            return Ok(existing.event_id);
        }
        let template = PduTemplate::state(kind, state_key, content).at(origin_server_ts);
        Ok(self
            .rooms
            .send_and_release(guard, &user.user_id, template, None)
            .await?)
    }

    /// `PUT /rooms/{roomId}/redact/{eventId}/{txnId}`.
    ///
    /// The authorization rules let anyone on the sender's server redact; the spec leaves the
    /// "own event or enough power" check to the server, which Accord makes here, before sending.
    pub async fn redact(
        &self,
        user: &AuthedUser,
        room_id: &RoomId,
        event_id: &EventId,
        txn_id: &str,
        reason: Option<String>,
    ) -> Result<OwnedEventId> {
        let endpoint = format!("{room_id}/redact/{event_id}");
        if let Some(existing) = self
            .rooms
            .db()
            .get_txn_event(&user.user_id, &user.device_id, &endpoint, txn_id)?
        {
            return Ok(existing);
        }
        let guard = self.rooms.lock(room_id).await;
        let state = self.joined_state(room_id, &user.user_id)?;
        let target = self.rooms.pdu_by_id(event_id)?.filter(|pdu| pdu.room_id == room_id);
        let may_redact_others = self.has_power(&state, &user.user_id, PowerLevelAction::RedactOther)?;
        match target {
            Some(target) if target.sender != user.user_id && !may_redact_others => {
                return Err(Error::forbidden(
                    "You need the redact power level to redact other users' events",
                ));
            }
            Some(target) if target.sender == user.user_id => {
                // Suspended users may still take back their own words (spec).
                self.rate_limits.check_user(RateClass::Message, user)?;
            }
            Some(_) => self.may_send(user, RateClass::AdminRedaction)?,
            // An event this server hasn't seen (yet) can still be redacted by whoever may
            // redact any event: the redaction reaches the servers that have it (Synapse sends
            // it; Complement's TestFederationRedactSendsWithoutEvent).
            None if may_redact_others => self.may_send(user, RateClass::AdminRedaction)?,
            None => return Err(Error::not_found(format!("Event {event_id} not found in {room_id}"))),
        }
        let mut content = serde_json::Map::new();
        if let Some(reason) = reason {
            content.insert("reason".to_owned(), Value::String(reason));
        }
        let template = PduTemplate {
            kind: TimelineEventType::RoomRedaction,
            content: Value::Object(content),
            state_key: None,
            redacts: Some(event_id.to_owned()),
            origin_server_ts: None,
        };
        let txn = TxnInfo {
            device_id: user.device_id.clone(),
            endpoint,
            txn_id: txn_id.to_owned(),
        };
        Ok(self
            .rooms
            .send_and_release(guard, &user.user_id, template, Some(txn))
            .await?)
    }

    /// The room's power levels as ruma models them: the spec's defaults without an
    /// `m.room.power_levels` event (creators at 100), and creators (`additional_creators`
    /// included) privileged above everyone from room version 12.
    pub(crate) fn room_power_levels(&self, state: &accord_room::RoomState) -> Result<RoomPowerLevels> {
        let rules = accord_room::rules_for(&state.version)?;
        let creators = self.room_creators(state)?;
        let source = match self.rooms.state_event(state, &StateEventType::RoomPowerLevels, "")? {
            None => RoomPowerLevelsSource::None,
            // It passed the auth rules, which check its levels are integers; should it still not
            // parse, nobody gets power from a misreading.
            Some(pdu) => RoomPowerLevelsSource::Original(
                serde_json::from_value::<RoomPowerLevelsEventContent>(pdu.content_value())
                    .map_err(|err| Error::bad_state(format!("The room's power levels can't be read: {err}")))?,
            ),
        };
        Ok(RoomPowerLevels::new(source, &rules.authorization, creators))
    }

    /// The room's creator and, where the room version has them, its additional creators.
    pub(crate) fn room_creators(&self, state: &accord_room::RoomState) -> Result<Vec<ruma::OwnedUserId>> {
        let rules = accord_room::rules_for(&state.version)?;
        let mut creators = Vec::new();
        if let Some(create) = self.rooms.state_event(state, &StateEventType::RoomCreate, "")? {
            creators.push(create.sender.clone());
            if rules.authorization.additional_room_creators
                && let Ok(content) = serde_json::from_value::<RoomCreateEventContent>(create.content_value())
            {
                creators.extend(content.additional_creators);
            }
        }
        Ok(creators)
    }

    /// From room version 12 creators hold no power level: power levels naming one are
    /// refused with 400 before the auth rules would refuse them with 403 (Synapse answers 400;
    /// Complement's TestMSC4289PrivilegedRoomCreators checks it).
    fn check_power_levels_name_no_creator(&self, state: &accord_room::RoomState, content: &Value) -> Result<()> {
        let rules = accord_room::rules_for(&state.version)?;
        if !rules.authorization.explicitly_privilege_room_creators {
            return Ok(());
        }
        let Some(users) = content.get("users").and_then(Value::as_object) else {
            return Ok(());
        };
        match self
            .room_creators(state)?
            .into_iter()
            .find(|creator| users.contains_key(creator.as_str()))
        {
            Some(creator) => Err(Error::bad_json(format!(
                "{creator} is a creator of the room: creators have no power level in room version {}",
                state.version
            ))),
            None => Ok(()),
        }
    }

    /// Whether the user's power reaches what `action` needs.
    pub(crate) fn has_power(
        &self,
        state: &accord_room::RoomState,
        user_id: &ruma::UserId,
        action: PowerLevelAction,
    ) -> Result<bool> {
        Ok(self.room_power_levels(state)?.user_can_do(user_id, action))
    }

    /// Whether the user may send state events of `event_type`.
    pub(crate) fn can_send_state(
        &self,
        state: &accord_room::RoomState,
        user_id: &ruma::UserId,
        event_type: StateEventType,
    ) -> Result<bool> {
        Ok(self.room_power_levels(state)?.user_can_send_state(user_id, event_type))
    }
}
