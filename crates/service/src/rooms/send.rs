//! Sending: message events (idempotent per device transaction id), state events, redactions.

use accord_room::{PduTemplate, TxnInfo};
use ruma::{
    EventId, OwnedEventId, RoomId,
    events::{StateEventType, TimelineEventType},
};
use serde_json::Value;

use super::RoomService;
use crate::{AuthedUser, Error, Result};

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
        if let Some(event_id) = self.rooms.db().get_txn_event(&user.user_id, &user.device_id, txn_id)? {
            return Ok(event_id);
        }
        if !content.is_object() {
            return Err(Error::bad_json("Event content must be a JSON object"));
        }
        let guard = self.rooms.lock(room_id).await;
        // Re-check under the lock: a concurrent retry of the same transaction may have won.
        if let Some(event_id) = self.rooms.db().get_txn_event(&user.user_id, &user.device_id, txn_id)? {
            return Ok(event_id);
        }
        self.rooms.room_version(room_id)?;
        let template = PduTemplate::message(TimelineEventType::from(kind), content);
        let txn = TxnInfo {
            device_id: user.device_id.clone(),
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
        if NOT_CLIENT_SETTABLE.contains(&kind) {
            return Err(Error::forbidden(format!(
                "{kind} cannot be changed after the room is created"
            )));
        }
        if !content.is_object() {
            return Err(Error::bad_json("Event content must be a JSON object"));
        }
        if kind == "m.room.canonical_alias" {
            self.check_canonical_alias(room_id, &content)?;
        }
        let guard = self.rooms.lock(room_id).await;
        self.rooms.room_version(room_id)?;
        let template = PduTemplate::state(StateEventType::from(kind), state_key, content);
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
        if let Some(existing) = self.rooms.db().get_txn_event(&user.user_id, &user.device_id, txn_id)? {
            return Ok(existing);
        }
        let guard = self.rooms.lock(room_id).await;
        let state = self.joined_state(room_id, &user.user_id)?;
        let target = self.rooms.pdu_by_id(event_id)?.filter(|pdu| pdu.room_id == room_id);
        let target = target.ok_or_else(|| Error::not_found(format!("Event {event_id} not found in {room_id}")))?;
        if target.sender != user.user_id && !self.has_power(&state, &user.user_id, "redact", 50)? {
            return Err(Error::forbidden(
                "You need the redact power level to redact other users' events",
            ));
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
        };
        let txn = TxnInfo {
            device_id: user.device_id.clone(),
            txn_id: txn_id.to_owned(),
        };
        Ok(self
            .rooms
            .send_and_release(guard, &user.user_id, template, Some(txn))
            .await?)
    }

    fn power_levels(&self, state: &accord_room::RoomState) -> Result<Option<Value>> {
        Ok(self
            .rooms
            .state_event(state, &StateEventType::RoomPowerLevels, "")?
            .map(|pdu| pdu.content_value()))
    }

    /// A user's power level: unlimited for v12 room creators; without a power levels event,
    /// 100 for the creator and 0 for others; else `users[user]` or `users_default`.
    pub(crate) fn user_power(&self, state: &accord_room::RoomState, user_id: &ruma::UserId) -> Result<i64> {
        let create = self.rooms.state_event(state, &StateEventType::RoomCreate, "")?;
        let is_creator = create.as_ref().is_some_and(|c| {
            c.sender == user_id
                || c.content_value()["additional_creators"]
                    .as_array()
                    .is_some_and(|extra| extra.iter().any(|u| u.as_str() == Some(user_id.as_str())))
        });
        if is_creator
            && accord_room::rules_for(&state.version)?
                .authorization
                .explicitly_privilege_room_creators
        {
            return Ok(i64::MAX);
        }
        let Some(levels) = self.power_levels(state)? else {
            return Ok(if create.is_some_and(|c| c.sender == user_id) {
                100
            } else {
                0
            });
        };
        Ok(levels["users"]
            .get(user_id.as_str())
            .and_then(as_level)
            .or_else(|| as_level(&levels["users_default"]))
            .unwrap_or(0))
    }

    /// Whether the user's power reaches `levels[action]` (`redact`, `kick`, ...), or `default`.
    pub(crate) fn has_power(
        &self,
        state: &accord_room::RoomState,
        user_id: &ruma::UserId,
        action: &str,
        default: i64,
    ) -> Result<bool> {
        let needed = self
            .power_levels(state)?
            .and_then(|l| l.get(action).and_then(as_level))
            .unwrap_or(default);
        Ok(self.user_power(state, user_id)? >= needed)
    }

    /// Whether the user may send state events of `event_type`.
    pub(crate) fn can_send_state(
        &self,
        state: &accord_room::RoomState,
        user_id: &ruma::UserId,
        event_type: &str,
    ) -> Result<bool> {
        let levels = self.power_levels(state)?;
        let needed = levels
            .as_ref()
            .and_then(|l| {
                l["events"]
                    .get(event_type)
                    .and_then(as_level)
                    .or_else(|| l.get("state_default").and_then(as_level))
            })
            .unwrap_or(50);
        Ok(self.user_power(state, user_id)? >= needed)
    }
}

/// Power levels are integers, or numeric strings in rooms before version 10.
fn as_level(value: &Value) -> Option<i64> {
    value
        .as_i64()
        .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
}
