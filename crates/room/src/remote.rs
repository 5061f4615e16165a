//! Remote servers joining local rooms (spec: "Joining Rooms", server side): the `make_join`
//! template and accepting the signed join from `send_join`, answered with the room's state and
//! auth chain.

use accord_core::Pdu;
use ruma::events::room::member::MembershipState;
use ruma::{
    CanonicalJsonObject, EventId, OwnedEventId, RoomId, RoomVersionId, ServerName, UserId,
    events::{StateEventType, TimelineEventType},
    signatures::{PublicKeyMap, Verified, verify_event},
    state_res,
};
use serde_json::json;

use crate::{Error, Result, Rooms, build::PduTemplate, persist::Durability, versions::rules_for};

/// What a joining server receives: the state before its join and the auth chain of that state,
/// as full PDUs.
#[derive(Debug, Clone)]
pub struct JoinedRoomState {
    /// The room state the join was accepted against.
    pub state: Vec<CanonicalJsonObject>,
    /// Every event in the state's auth chains.
    pub auth_chain: Vec<CanonicalJsonObject>,
}

impl Rooms {
    /// A join event template for `user_id` (spec: `make_join`), refused if the room's rules
    /// would not let the user join.
    pub async fn join_template(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
    ) -> Result<(RoomVersionId, CanonicalJsonObject)> {
        self.membership_template(room_id, user_id, MembershipState::Join, serde_json::Map::new())
            .await
    }

    /// A membership event template (`join`, `leave`, `knock`) for a remote user (spec:
    /// `make_join`, `make_leave`, `make_knock`), with `extra` content (a restricted join's
    /// `join_authorised_via_users_server`), refused if the room's rules would not allow it.
    pub async fn membership_template(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        membership: MembershipState,
        extra: serde_json::Map<String, serde_json::Value>,
    ) -> Result<(RoomVersionId, CanonicalJsonObject)> {
        if !self.server_allowed_in_room(room_id, user_id.server_name())? {
            return Err(Error::Unauthorized(format!(
                "{} is denied by the room's server ACL",
                user_id.server_name()
            )));
        }
        let _guard = self.lock(room_id).await;
        let before = self.current_state(room_id)?;
        let rules = rules_for(&before.version)?;
        let (prev_events, depth) = self.prev_events_and_depth(room_id)?;
        let mut content = extra;
        content.insert("membership".to_owned(), json!(membership.as_str()));
        let template = PduTemplate::state(
            StateEventType::RoomMember,
            user_id.as_str(),
            serde_json::Value::Object(content),
        );
        let content_raw =
            serde_json::value::to_raw_value(&template.content).map_err(|err| Error::InvalidEvent(err.to_string()))?;
        let mut auth_events = Vec::new();
        for (kind, key) in state_res::auth_types_for_event(
            &template.kind,
            user_id,
            template.state_key.as_deref(),
            &content_raw,
            &rules.authorization,
        )
        .map_err(Error::InvalidEvent)?
        {
            if let Some(short) = self.state_event_id(&before, &kind.to_string(), &key)? {
                auth_events.push(self.db.event_id_of(short)?);
            }
        }
        let object = self.event_object(
            Some(room_id),
            &rules,
            user_id,
            &template,
            prev_events,
            auth_events,
            depth,
        )?;
        // Check the join against the current state now, so the remote server learns early.
        let probe_id =
            OwnedEventId::try_from("$make_membership_probe").map_err(|err| Error::InvalidEvent(err.to_string()))?;
        let probe =
            Pdu::from_canonical(probe_id, room_id, &object).map_err(|err| Error::InvalidEvent(err.to_string()))?;
        state_res::check_state_dependent_auth_rules(
            &rules.authorization,
            &probe,
            |kind: &StateEventType, key: &str| self.state_event(&before, kind, key).ok().flatten(),
        )
        .map_err(Error::Unauthorized)?;
        Ok((before.version, object))
    }

    /// Accepts a remote server's signed join (spec: `send_join`): format, event id, signatures
    /// and content hash (`keys` holds the signing servers' keys), that it is the `origin`'s own
    /// user joining, both halves of the authorization rules; then persists it.
    pub async fn accept_remote_join(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        event_id: &EventId,
        object: CanonicalJsonObject,
        keys: &PublicKeyMap,
    ) -> Result<JoinedRoomState> {
        if !self.server_allowed_in_room(room_id, origin)? {
            return Err(Error::Unauthorized(format!(
                "{origin} is denied by the room's server ACL"
            )));
        }
        let guard = self.lock(room_id).await;
        let before = self.current_state(room_id)?;
        let rules = rules_for(&before.version)?;
        crate::pdu_format::check_received_pdu_format(&object, &rules.event_format).map_err(Error::InvalidEvent)?;
        let computed = crate::build::event_id_of(&object, &rules)?;
        if computed != event_id {
            return Err(Error::InvalidEvent(format!("event id is {computed}, not {event_id}")));
        }
        match verify_event(keys, &object, &rules) {
            Ok(Verified::All) => {}
            Ok(Verified::Signatures) => return Err(Error::InvalidEvent("content hash does not match".to_owned())),
            Err(err) => return Err(Error::Unauthorized(format!("signature check failed: {err}"))),
        }
        let pdu =
            Pdu::from_canonical(computed, room_id, &object).map_err(|err| Error::InvalidEvent(err.to_string()))?;
        let membership = pdu.membership();
        let is_own_join = pdu.kind == TimelineEventType::RoomMember
            && membership == Some(MembershipState::Join)
            && pdu.state_key.as_deref() == Some(pdu.sender.as_str())
            && pdu.sender.server_name() == origin
            && pdu.room_id == room_id;
        if !is_own_join {
            return Err(Error::InvalidEvent(
                "send_join takes a join of the origin server's own user".to_owned(),
            ));
        }
        self.authorize(&rules, &pdu, &before)?;
        let mut state = Vec::with_capacity(before.map.len());
        for short in before.map.values() {
            if let Some(json) = self.db.get_pdu_json(*short)? {
                state.push(json);
            }
        }
        let mut auth_chain = Vec::new();
        for event_id in self.auth_chain_of(self.state_event_ids(&before)?.into_iter())? {
            if let Some(short) = self.db.get_short_event_id(&event_id)?
                && let Some(json) = self.db.get_pdu_json(short)?
            {
                auth_chain.push(json);
            }
        }
        self.append(
            crate::persist::JoinedBatch::plain(guard.batch()),
            &pdu,
            object,
            Some(&before),
            None,
            Durability::Synced,
        )?;
        tracing::info!(room = %room_id, user = %pdu.sender, %origin, "remote user joined");
        Ok(JoinedRoomState { state, auth_chain })
    }
}
