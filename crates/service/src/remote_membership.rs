//! Membership across servers beyond joins: inviting users of other servers (their server
//! countersigns the invite, spec: `PUT /v2/invite`), receiving such invites for local users, and
//! rejecting an invite to a room this server is not in (`make_leave` / `send_leave` through the
//! inviting server).

use accord_db::{WriteBatch, rooms::RemoteInvite};
use accord_room::PduTemplate;
use ruma::events::room::member::MembershipState;
use ruma::{
    CanonicalJsonObject, CanonicalJsonValue, RoomId, RoomVersionId, ServerName, UserId,
    api::federation::membership::{
        RawStrippedState, create_invite::v2 as send_invite, create_leave_event::v2 as send_leave,
        prepare_leave_event::v1 as make_leave,
    },
    events::StateEventType,
    signatures::{Verified, verify_event},
};
use serde_json::{Map, Value, json};

use crate::{AuthedUser, Error, Result, Services};

fn to_raw(value: &impl serde::Serialize) -> Result<Box<serde_json::value::RawValue>> {
    serde_json::value::to_raw_value(value).map_err(|err| Error::Internal(err.to_string()))
}

/// The stripped form clients see of a state event (full PDU or already stripped). The create
/// event keeps its id, room and timestamp (MSC4311: clients of room version 12, whose room id
/// is the create event's hash, check it; Synapse sends it so).
pub(crate) fn strip(event: &Value) -> Value {
    let mut stripped = json!({
        "type": event["type"],
        "state_key": event["state_key"],
        "content": event["content"],
        "sender": event["sender"],
    });
    if event["type"] == "m.room.create" {
        for key in ["origin_server_ts", "event_id", "room_id"] {
            if let Some(value) = event.get(key).filter(|value| !value.is_null()) {
                stripped[key] = value.clone();
            }
        }
    }
    stripped
}

impl Services {
    /// `POST /createRoom`: the room with its local invitees; users of other servers are then
    /// invited through their servers, one signed `/invite` exchange each. A remote invite that
    /// fails is logged and doesn't undo the room (the client can invite again).
    pub async fn create_room_anywhere(
        &self,
        user: &AuthedUser,
        request: crate::rooms::CreateRoom,
    ) -> Result<ruma::OwnedRoomId> {
        let remote: Vec<ruma::OwnedUserId> = match &self.federation {
            Some(_) => request
                .invite
                .iter()
                .filter(|invitee| invitee.server_name() != self.config.server_name)
                .cloned()
                .collect(),
            None => Vec::new(),
        };
        self.gate_create_room(user, request.invite.len())?;
        let is_direct = request.is_direct;
        let room_id = self.rooms.create_room(user, request).await?;
        // A room created by hand as another's replacement (`predecessor` in its create).
        self.settings_follow_join(&user.user_id, &room_id);
        for target in remote {
            // Counted with the room's creation, not again here.
            if let Err(err) = self
                .invite_anywhere_ungated(user, &room_id, &target, None, is_direct)
                .await
            {
                tracing::warn!(room = %room_id, %target, %err, "createRoom: the invite through their server failed");
            }
        }
        Ok(room_id)
    }

    /// Invites `target` to `room_id`: directly when local, through the target's server when not.
    pub async fn invite_anywhere(
        &self,
        user: &AuthedUser,
        room_id: &RoomId,
        target: &UserId,
        reason: Option<String>,
        is_direct: bool,
    ) -> Result<()> {
        self.gate_invite(user, room_id, target)?;
        self.invite_anywhere_ungated(user, room_id, target, reason, is_direct)
            .await
    }

    /// [`Self::invite_anywhere`] without the suspension and rate checks (done by the caller).
    async fn invite_anywhere_ungated(
        &self,
        user: &AuthedUser,
        room_id: &RoomId,
        target: &UserId,
        reason: Option<String>,
        is_direct: bool,
    ) -> Result<()> {
        if target.server_name() == self.config.server_name || self.federation.is_none() {
            return self.rooms.invite(user, room_id, target, reason, is_direct).await;
        }
        let federation = self.federation_for(&format!("Inviting {target}"))?;
        let rooms = self.rooms.rooms();
        let state = rooms.current_state(room_id)?;
        if rooms.membership_in(&state, target)? == Some(MembershipState::Join) {
            return Err(Error::forbidden(format!("{target} is already in the room")));
        }
        let mut content = Map::new();
        content.insert("membership".to_owned(), json!("invite"));
        if is_direct {
            content.insert("is_direct".to_owned(), json!(true));
        }
        if let Some(reason) = reason {
            content.insert("reason".to_owned(), json!(reason));
        }
        let template = PduTemplate::state(StateEventType::RoomMember, target.as_str(), Value::Object(content));
        let (version, event, event_id) = rooms.prepare(room_id, &user.user_id, template).await?;

        let invite_state = self.stripped_state_pdus(room_id, Some(&user.user_id))?;
        let request = send_invite::Request::new(
            room_id.to_owned(),
            event_id.clone(),
            version,
            to_raw(&event)?,
            invite_state,
        );
        let response = federation
            .client()
            .send(target.server_name(), request)
            .await
            .map_err(|err| match err {
                // The invitee's server refused for them: say why, as it said it.
                accord_federation::Error::Remote {
                    status: 403, ref body, ..
                } if body.contains("M_INVITE_BLOCKED") => crate::invite_permission::blocked(target),
                err => Error::forbidden(format!(
                    "{} refused or did not answer the invite: {err}",
                    target.server_name()
                )),
            })?;
        let signed: CanonicalJsonObject = serde_json::from_str(response.event.get())
            .map_err(|err| Error::bad_json(format!("The countersigned invite is unreadable: {err}")))?;
        let countersigned = matches!(
            signed.get("signatures"),
            Some(CanonicalJsonValue::Object(by_server)) if by_server.contains_key(target.server_name().as_str())
        );
        if !countersigned {
            return Err(Error::forbidden(format!(
                "{} returned the invite without its signature",
                target.server_name()
            )));
        }
        let keys = federation
            .event_signing_keys(&signed, &self.signing_rules(room_id))
            .await
            .map_err(|err| Error::forbidden(format!("Cannot verify the countersigned invite: {err}")))?;
        let stored = rooms
            .accept_remote_event(&self.config.server_name, room_id, signed, &keys)
            .await?;
        if stored != event_id {
            return Err(Error::forbidden("The invitee's server changed the invite event"));
        }
        Ok(())
    }

    /// An invite of a local user from `origin` (spec: `PUT /v2/invite`): checked, countersigned
    /// and returned. For rooms this server is not in, the invite and its stripped state are kept
    /// for `/sync` until the user joins or rejects it.
    #[allow(clippy::too_many_arguments)]
    pub async fn receive_invite(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        event_id: &ruma::EventId,
        version: &RoomVersionId,
        mut event: CanonicalJsonObject,
        invite_room_state: &[Value],
    ) -> Result<CanonicalJsonObject> {
        let federation = self.federation_for("The invite")?;
        let rules = accord_room::rules_for(version).map_err(|_| {
            Error::new(
                ruma::api::error::ErrorKind::IncompatibleRoomVersion(
                    ruma::api::error::IncompatibleRoomVersionErrorData::new(version.clone()),
                ),
                format!("Room version {version} is not supported by this server"),
            )
        })?;
        accord_room::check_received_pdu_format(&event, &rules.event_format).map_err(Error::bad_json)?;
        let value = serde_json::to_value(&event).map_err(|err| Error::Internal(err.to_string()))?;
        let invitee = value["state_key"]
            .as_str()
            .and_then(|key| UserId::parse(key).ok())
            .ok_or_else(|| Error::bad_json("The invite has no user id as state_key"))?;
        let sender = value["sender"]
            .as_str()
            .and_then(|s| UserId::parse(s).ok())
            .ok_or_else(|| Error::bad_json("The invite has no sender"))?;
        if value["type"] != "m.room.member" || value["content"]["membership"] != "invite" {
            return Err(Error::bad_json("Only m.room.member invites can be sent here"));
        }
        if value["room_id"].as_str() != Some(room_id.as_str()) {
            return Err(Error::bad_json("The invite is for another room"));
        }
        if sender.server_name() != origin {
            return Err(Error::forbidden("The inviter must belong to the sending server"));
        }
        if invitee.server_name() != self.config.server_name || self.db().get_account(&invitee)?.is_none() {
            return Err(Error::not_found(format!("{invitee} is not a user of this server")));
        }
        self.rooms.check_invite_permitted(&invitee, &sender)?;
        let rooms = self.rooms.rooms();
        if rooms.exists(room_id)? && !rooms.server_allowed_in_room(room_id, origin)? {
            return Err(Error::forbidden(format!("{origin} is denied by the room's server ACL")));
        }
        let computed = accord_room::event_id_of(&event, &rules)?;
        if computed != event_id {
            return Err(Error::bad_json(format!(
                "The invite's event id is {computed}, not {event_id}"
            )));
        }
        let keys = federation
            .event_signing_keys(&event, &rules)
            .await
            .map_err(|err| Error::forbidden(format!("Cannot verify the invite: {err}")))?;
        match verify_event(&keys, &event, &rules) {
            Ok(Verified::All) => {}
            Ok(Verified::Signatures) => return Err(Error::bad_json("The invite's content hash does not match")),
            Err(err) => {
                return Err(Error::forbidden(format!(
                    "The invite's signature does not verify: {err}"
                )));
            }
        }
        rooms.sign_event(&mut event, &rules)?;

        if !self.is_resident(room_id)? {
            let mut stripped: Vec<Value> = invite_room_state.iter().map(strip).collect();
            stripped.push(strip(&value));
            let invite = RemoteInvite {
                stripped_state: stripped,
                servers: vec![origin.to_owned()],
            };
            self.set_remote_membership(&invitee, room_id, MembershipState::Invite, Some(&invite))
                .await?;
            tracing::info!(room = %room_id, user = %invitee, %origin, "invited to a remote room");
        }
        Ok(event)
    }

    /// Rejects an invite to a room this server is not (or no longer) in, through the inviting
    /// server.
    pub async fn reject_remote_invite(
        &self,
        user: &AuthedUser,
        room_id: &RoomId,
        invite: &RemoteInvite,
        reason: Option<String>,
    ) -> Result<()> {
        let federation = self.federation_for("Rejecting the invite")?;
        let mut leave = None;
        for server in &invite.servers {
            match self
                .leave_through(federation, user, room_id, server, reason.clone())
                .await
            {
                Ok(event) => {
                    leave = Some(event);
                    break;
                }
                Err(err) => tracing::info!(%server, room = %room_id, %err, "rejecting an invite failed"),
            }
        }
        // The user's clients see the leave in the room's `leave` section, as for any room
        // (Complement's TestFederationRoomsInvite). When the inviting server is gone or
        // refuses, the invite is dropped here anyway, so the user is not stuck with it, and a
        // leave made up here stands for the one no server accepted (Synapse does the same).
        let leave = match leave {
            Some(leave) => leave,
            None => {
                tracing::info!(room = %room_id, user = %user.user_id, "invite dropped locally");
                out_of_band_leave(&user.user_id, room_id, reason)
            }
        };
        self.rooms
            .rooms()
            .record_remote_membership(&user.user_id, room_id, MembershipState::Leave, None, Some(&leave))
            .await?;
        Ok(())
    }

    /// The room's stripped state as full PDUs, sent with invites and answered to knocks (the
    /// receiving server can check them).
    /// With an invite, the inviter's member event is among them, so the invitee's client can
    /// show who invited them (Synapse sends it too).
    pub(crate) fn stripped_state_pdus(
        &self,
        room_id: &RoomId,
        inviter: Option<&UserId>,
    ) -> Result<Vec<RawStrippedState>> {
        let rooms = self.rooms.rooms();
        let state = rooms.current_state(room_id)?;
        let mut stripped = Vec::new();
        let keys = crate::sync::STRIPPED_STATE_TYPES
            .iter()
            .map(|kind| (*kind, ""))
            .chain(inviter.map(|user| ("m.room.member", user.as_str())));
        for (kind, state_key) in keys {
            if let Some(short) = rooms.state_event_id(&state, kind, state_key)?
                && let Some(json) = rooms.federation_event(&rooms.db().event_id_of(short)?)?
            {
                stripped.push(RawStrippedState::Pdu(to_raw(&json)?));
            }
        }
        Ok(stripped)
    }

    /// Records a pending remote invite or knock, or its end without joining (see
    /// [`accord_room::Rooms::record_remote_membership`]).
    pub(crate) async fn set_remote_membership(
        &self,
        user_id: &UserId,
        room_id: &RoomId,
        membership: MembershipState,
        invite: Option<&RemoteInvite>,
    ) -> Result<()> {
        self.rooms
            .rooms()
            .record_remote_membership(user_id, room_id, membership, invite, None)
            .await?;
        Ok(())
    }

    pub(crate) async fn leave_through(
        &self,
        federation: &accord_federation::Federation,
        user: &AuthedUser,
        room_id: &RoomId,
        server: &ServerName,
        reason: Option<String>,
    ) -> Result<Value> {
        let template = federation
            .client()
            .send(
                server,
                make_leave::Request::new(room_id.to_owned(), user.user_id.clone()),
            )
            .await
            .map_err(|err| Error::forbidden(format!("{server} refused make_leave: {err}")))?;
        let version = template.room_version.unwrap_or(RoomVersionId::V1);
        let rules = accord_room::rules_for(&version)?;
        let mut leave: CanonicalJsonObject = serde_json::from_str(template.event.get())
            .map_err(|err| Error::bad_json(format!("{server} sent an unreadable leave template: {err}")))?;
        let event_id = self.sign_membership(&mut leave, &rules, &user.user_id, reason, Default::default())?;
        federation
            .client()
            .send(
                server,
                send_leave::Request::new(room_id.to_owned(), event_id.clone(), to_raw(&leave)?),
            )
            .await
            .map_err(|err| Error::forbidden(format!("{server} refused send_leave: {err}")))?;
        let pdu = accord_core::Pdu::from_canonical(event_id, room_id, &leave)
            .map_err(|err| Error::Internal(format!("our own leave does not parse: {err}")))?;
        Ok(pdu.to_client_event(Map::new()))
    }

    /// Leaves a room, or rejects an invite to a room on another server.
    pub async fn leave_anywhere(&self, user: &AuthedUser, room_id: &RoomId, reason: Option<String>) -> Result<()> {
        if !self.is_resident(room_id)?
            && let Some(invite) = self.db().remote_invite(&user.user_id, room_id)?
        {
            return self.reject_remote_invite(user, room_id, &invite, reason).await;
        }
        self.rooms.leave(user, room_id, reason).await
    }

    /// Servers to join `room_id` through from a pending remote invite of `user_id`.
    pub(crate) fn invite_servers(&self, user_id: &UserId, room_id: &RoomId) -> Result<Vec<ruma::OwnedServerName>> {
        Ok(self
            .db()
            .remote_invite(user_id, room_id)?
            .map(|invite| invite.servers)
            .unwrap_or_default())
    }

    /// Forgets a remote invite once its room is joined.
    pub(crate) fn clear_remote_invite(&self, user_id: &UserId, room_id: &RoomId) -> Result<()> {
        let mut batch = WriteBatch::new();
        self.db().delete_remote_invite(&mut batch, user_id, room_id);
        Ok(self.db().write(batch)?)
    }
}

/// A leave of a room no server could be told of, for the user's own clients only: it is
/// signed by no one and never sent anywhere, so its id is made up (in the event id format).
fn out_of_band_leave(user_id: &UserId, room_id: &RoomId, reason: Option<String>) -> Value {
    let mut content = Map::new();
    content.insert("membership".to_owned(), json!("leave"));
    if let Some(reason) = reason {
        content.insert("reason".to_owned(), json!(reason));
    }
    let id = crate::tokens::random_alphanumeric(43);
    json!({
        "type": "m.room.member",
        "state_key": user_id,
        "sender": user_id,
        "room_id": room_id,
        "event_id": format!("${id}"),
        "origin_server_ts": ruma::MilliSecondsSinceUnixEpoch::now(),
        "content": content,
        "unsigned": {},
    })
}
