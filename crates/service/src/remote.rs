//! Answers that may live on another server: profiles and room aliases of remote users and
//! servers are asked over federation (respecting the closed-federation policy); local ones are
//! answered here.

use ruma::api::error::ErrorKind;
use ruma::events::room::member::MembershipState;
use ruma::{
    OwnedRoomId, OwnedServerName, RoomAliasId, UserId,
    api::federation::{
        query::{get_profile_information::v1 as get_profile, get_room_information::v1 as get_room},
        transactions::edu::{Edu, TypingContent},
    },
};
use serde_json::{Map, Value};

use crate::{Error, Result, Services};

/// Turns a federation failure into what the client should be told.
pub(crate) fn remote_error(what: &str, err: accord_federation::Error) -> Error {
    // A resident that can't vouch for a restricted join says why; the client may try another
    // server, so the reason is passed on rather than turned into 404.
    if let accord_federation::Error::Remote {
        status: 400,
        server,
        body,
    } = &err
        && let Some((kind, reason)) = join_refusal(body)
    {
        return Error::new(kind, format!("{server} refused: {reason}"));
    }
    match err {
        accord_federation::Error::Forbidden(message) => Error::forbidden(message),
        accord_federation::Error::Remote { status: 404, .. } => Error::not_found(format!("{what} not found")),
        // The resident server refused (banned, not invited, ...): pass its reason on.
        accord_federation::Error::Remote {
            status: 403,
            server,
            body,
        } => {
            let reason = serde_json::from_str::<Value>(&body)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_owned))
                .unwrap_or(body);
            Error::forbidden(format!("{server} refused: {reason}"))
        }
        other => {
            tracing::info!(%other, "federation query failed");
            Error::not_found(format!("{what} could not be fetched from its server: {other}"))
        }
    }
}

/// The errcode and message of a resident's refusal to grant a restricted join, when `body` is
/// one.
fn join_refusal(body: &str) -> Option<(ErrorKind, String)> {
    let value = serde_json::from_str::<Value>(body).ok()?;
    let kind = match value["errcode"].as_str()? {
        "M_UNABLE_TO_AUTHORISE_JOIN" => ErrorKind::UnableToAuthorizeJoin,
        "M_UNABLE_TO_GRANT_JOIN" => ErrorKind::UnableToGrantJoin,
        "M_FORBIDDEN" => ErrorKind::Forbidden,
        _ => return None,
    };
    Some((kind, value["error"].as_str().unwrap_or_default().to_owned()))
}

impl Services {
    pub(crate) fn federation_for(&self, what: &str) -> Result<&accord_federation::Federation> {
        self.federation
            .as_ref()
            .ok_or_else(|| Error::not_found(format!("{what} is on another server and federation is disabled")))
    }

    /// The rules of a room this server holds, for checking its events' signatures (which keys
    /// were valid when depends on the version). Unknown rooms get the strictest rules.
    pub fn signing_rules(&self, room_id: &ruma::RoomId) -> ruma::room_version_rules::RoomVersionRules {
        self.rooms
            .rooms()
            .room_version(room_id)
            .ok()
            .and_then(|version| accord_room::rules_for(&version).ok())
            .unwrap_or(ruma::room_version_rules::RoomVersionRules::V11)
    }

    /// A user's profile, local or remote.
    pub async fn profile_anywhere(&self, user_id: &UserId) -> Result<Map<String, Value>> {
        if user_id.server_name() == self.config.server_name {
            return self.profiles.get(user_id);
        }
        let what = format!("Profile of {user_id}");
        let federation = self.federation_for(&what)?;
        let response = federation
            .client()
            .send(user_id.server_name(), get_profile::Request::new(user_id.to_owned()))
            .await
            .map_err(|err| remote_error(&what, err))?;
        Ok(response.data.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
    }

    /// Where an alias points (and servers that can join), local or remote.
    pub async fn resolve_alias_anywhere(&self, alias: &RoomAliasId) -> Result<(OwnedRoomId, Vec<OwnedServerName>)> {
        if alias.server_name() == self.config.server_name {
            let room_id = self.resolve_local_alias(alias).await?;
            return Ok((room_id, vec![self.config.server_name.clone()]));
        }
        let what = format!("Room alias {alias}");
        let federation = self.federation_for(&what)?;
        let response = federation
            .client()
            .send(alias.server_name(), get_room::Request::new(alias.to_owned()))
            .await
            .map_err(|err| remote_error(&what, err))?;
        Ok((response.room_id, response.servers))
    }
}

impl Services {
    /// Whether a local user is joined to `room_id`, so this server follows the room live.
    pub(crate) fn is_resident(&self, room_id: &ruma::RoomId) -> Result<bool> {
        Ok(self.rooms.rooms().is_resident(room_id)?)
    }

    /// Joins a room by id or alias: locally when this server knows the room, otherwise through
    /// a resident server (`via`, the alias's servers, or the room id's server): `make_join`,
    /// sign, `send_join`, then the returned state is checked and stored.
    /// Servers met for the first time through the room learn the user's devices.
    pub async fn join_anywhere(
        &self,
        user: &crate::AuthedUser,
        room: &ruma::RoomOrAliasId,
        via: &[OwnedServerName],
        reason: Option<String>,
        extra: serde_json::Map<String, serde_json::Value>,
    ) -> Result<OwnedRoomId> {
        let room_id = self.join_local_or_remote(user, room, via, reason, extra).await?;
        if let Err(err) = self.announce_devices_to_new_servers(&user.user_id, &room_id) {
            tracing::warn!(%err, room = %room_id, "devices not announced to the room's new servers");
        }
        self.settings_follow_join(&user.user_id, &room_id);
        Ok(room_id)
    }

    async fn join_local_or_remote(
        &self,
        user: &crate::AuthedUser,
        room: &ruma::RoomOrAliasId,
        via: &[OwnedServerName],
        reason: Option<String>,
        extra: serde_json::Map<String, serde_json::Value>,
    ) -> Result<OwnedRoomId> {
        let (room_id, servers) = self.room_and_servers(&user.user_id, room, via).await?;
        // A room this server knows but has no joined user in is stale here: join through a
        // resident server, like a new room.
        let resident = self.federation.is_none() || self.is_resident(&room_id)?;
        self.gate_join(user, &room_id, !resident)?;
        if resident {
            let local = self
                .rooms
                .join(
                    user,
                    <&ruma::RoomOrAliasId>::from(&*room_id),
                    reason.clone(),
                    extra.clone(),
                )
                .await;
            return match local {
                Err(err) if err.kind() == Some(&ErrorKind::UnableToGrantJoin) => {
                    self.join_resident_room_through_others(user, &room_id, reason, extra, err)
                        .await
                }
                other => other,
            };
        }
        let federation = self.federation_for(&format!("Room {room_id}"))?;
        let mut last_error = Error::not_found(format!(
            "Room {room_id} is not known here; give `via` servers to join through"
        ));
        for server in servers {
            match self
                .join_through(federation, user, &room_id, &server, reason.clone(), extra.clone())
                .await
            {
                Ok(()) => {
                    self.clear_remote_invite(&user.user_id, &room_id)?;
                    return Ok(room_id);
                }
                Err(err) => {
                    tracing::info!(%server, room = %room_id, %err, "remote join attempt failed");
                    last_error = err;
                }
            }
        }
        Err(last_error)
    }

    /// The room a room id or alias names, and the servers to reach it through: `via`, the
    /// alias's servers, those of a pending remote invite or knock, or else the room id's
    /// server; this server left out.
    pub(crate) async fn room_and_servers(
        &self,
        user_id: &UserId,
        room: &ruma::RoomOrAliasId,
        via: &[OwnedServerName],
    ) -> Result<(OwnedRoomId, Vec<OwnedServerName>)> {
        let (room_id, mut servers) = match <&ruma::RoomId>::try_from(room) {
            Ok(room_id) => (room_id.to_owned(), via.to_vec()),
            Err(alias) => {
                let (room_id, servers) = self.resolve_alias_anywhere(alias).await?;
                (room_id, servers.into_iter().chain(via.iter().cloned()).collect())
            }
        };
        servers.extend(self.invite_servers(user_id, &room_id)?);
        servers.retain(|server| server != &self.config.server_name);
        // The room id's server only as a last resort: it may have left the room, and a client
        // that names servers means those (Synapse tries no others; Complement's
        // TestRestrictedRoomsRemoteJoinFailOver expects a join through a server that can't
        // vouch to fail).
        if servers.is_empty()
            && let Some(server) = room_id.server_name()
            && server != self.config.server_name
        {
            servers.push(server.to_owned());
        }
        let mut seen = std::collections::BTreeSet::new();
        servers.retain(|server| seen.insert(server.clone()));
        Ok((room_id, servers))
    }

    /// A restricted room this server is in, where no local member may vouch for the user's
    /// join (none has the power to invite): another resident server that has such a member
    /// authorises it through make_join/send_join, and the signed join is then taken in here as
    /// any event from that server (Synapse does the same; TestRestrictedRoomsRemoteJoinLocalUser).
    async fn join_resident_room_through_others(
        &self,
        user: &crate::AuthedUser,
        room_id: &ruma::RoomId,
        reason: Option<String>,
        extra: serde_json::Map<String, serde_json::Value>,
        local_error: Error,
    ) -> Result<OwnedRoomId> {
        let Some(federation) = self.federation.as_ref() else {
            return Err(local_error);
        };
        let servers = self.rooms.rooms().remote_servers(room_id, &[MembershipState::Join])?;
        let mut last_error = local_error;
        for server in servers {
            let joined = async {
                let (_, join, _) = self
                    .send_join_through(federation, user, room_id, &server, reason.clone(), extra.clone())
                    .await?;
                self.receive_pdu(&server, room_id, join).await
            };
            match joined.await {
                Ok(_) => {
                    tracing::info!(room = %room_id, via = %server, user = %user.user_id, "joined a restricted room authorised by another server");
                    return Ok(room_id.to_owned());
                }
                Err(err) => {
                    tracing::info!(%server, room = %room_id, %err, "restricted join through another server failed");
                    last_error = err;
                }
            }
        }
        Err(last_error)
    }

    async fn join_through(
        &self,
        federation: &accord_federation::Federation,
        user: &crate::AuthedUser,
        room_id: &ruma::RoomId,
        server: &ruma::ServerName,
        reason: Option<String>,
        extra: serde_json::Map<String, serde_json::Value>,
    ) -> Result<()> {
        use ruma::CanonicalJsonObject;

        let what = format!("Room {room_id}");
        let (version, join, response) = self
            .send_join_through(federation, user, room_id, server, reason, extra)
            .await?;
        let rules = accord_room::rules_for(&version)?;
        let parse = |raw: &serde_json::value::RawValue| -> Result<CanonicalJsonObject> {
            serde_json::from_str(raw.get())
                .map_err(|err| Error::bad_json(format!("{server} sent an unreadable event: {err}")))
        };
        let state: Vec<CanonicalJsonObject> = response
            .room_state
            .state
            .iter()
            .map(|raw| parse(raw))
            .collect::<Result<_>>()?;
        let auth_chain: Vec<CanonicalJsonObject> = response
            .room_state
            .auth_chain
            .iter()
            .map(|raw| parse(raw))
            .collect::<Result<_>>()?;
        let keys = federation
            .signing_keys_of_all(
                &state.iter().chain(&auth_chain).chain([&join]).collect::<Vec<_>>(),
                &rules,
            )
            .await
            .map_err(|err| remote_error(&what, err))?;
        self.rooms
            .rooms()
            .join_remote_room(room_id, &version, join, state, auth_chain, &keys, server)
            .await?;
        tracing::info!(room = %room_id, via = %server, user = %user.user_id, "joined a remote room");
        Ok(())
    }

    /// make_join and send_join with `server`: the room's version, our join as the room holds
    /// it (countersigned by the resident that authorised a restricted join), and the answer.
    async fn send_join_through(
        &self,
        federation: &accord_federation::Federation,
        user: &crate::AuthedUser,
        room_id: &ruma::RoomId,
        server: &ruma::ServerName,
        reason: Option<String>,
        extra: serde_json::Map<String, serde_json::Value>,
    ) -> Result<(
        ruma::RoomVersionId,
        ruma::CanonicalJsonObject,
        ruma::api::federation::membership::create_join_event::v2::Response,
    )> {
        use ruma::{
            CanonicalJsonObject,
            api::federation::membership::{create_join_event::v2 as send_join, prepare_join_event::v1 as make_join},
        };

        let what = format!("Room {room_id}");
        let mut request = make_join::Request::new(room_id.to_owned(), user.user_id.clone());
        request.ver = crate::rooms::SUPPORTED_ROOM_VERSIONS.to_vec();
        let template = federation
            .client()
            .send(server, request)
            .await
            .map_err(|err| remote_error(&what, err))?;
        let version = template.room_version.unwrap_or(ruma::RoomVersionId::V1);
        let rules = accord_room::rules_for(&version)?;
        let mut join: CanonicalJsonObject = serde_json::from_str(template.event.get())
            .map_err(|err| Error::bad_json(format!("{server} sent an unreadable join template: {err}")))?;
        let event_id = self.sign_membership(&mut join, &rules, &user.user_id, reason, extra)?;
        let pdu = serde_json::value::to_raw_value(&join).map_err(|err| Error::Internal(err.to_string()))?;
        let response = federation
            .client()
            .send(
                server,
                send_join::Request::new(room_id.to_owned(), event_id.clone(), pdu),
            )
            .await
            .map_err(|err| remote_error(&what, err))?;
        let parse = |raw: &serde_json::value::RawValue| -> Result<CanonicalJsonObject> {
            serde_json::from_str(raw.get())
                .map_err(|err| Error::bad_json(format!("{server} sent an unreadable event: {err}")))
        };
        // A restricted join comes back signed by the resident that authorised it too.
        if let Some(signed) = &response.room_state.event {
            let signed = parse(signed)?;
            if accord_room::event_id_of(&signed, &rules)? != event_id {
                return Err(Error::bad_json(format!("{server} returned another join event")));
            }
            join = signed;
        }
        Ok((version, join, response))
    }
}

impl Services {
    /// `PUT /rooms/{roomId}/typing/{userId}`: local state, and an `m.typing` EDU to every other
    /// server with a member in the room.
    pub fn set_typing(
        &self,
        user: &crate::AuthedUser,
        room_id: &ruma::RoomId,
        target: &UserId,
        timeout: Option<std::time::Duration>,
    ) -> Result<()> {
        self.rooms.set_typing(user, room_id, target, timeout)?;
        if let Some(federation) = &self.federation {
            let edu = Edu::Typing(TypingContent::new(
                room_id.to_owned(),
                user.user_id.clone(),
                timeout.is_some(),
            ));
            for server in self.rooms.rooms().remote_servers(room_id, &[MembershipState::Join])? {
                federation.queue_edu(&server, &edu);
            }
        }
        Ok(())
    }

    /// An `m.typing` EDU from `origin`: applied when the user belongs to `origin`, is joined to
    /// the room here, and the room's ACL admits `origin`. Anything else is ignored.
    pub fn receive_typing_edu(&self, origin: &ruma::ServerName, content: &TypingContent) {
        let (room_id, user_id) = (&content.room_id, &content.user_id);
        if user_id.server_name() != origin {
            return;
        }
        let joined = self
            .db()
            .get_membership(user_id, room_id)
            .ok()
            .flatten()
            .is_some_and(|m| m.membership == MembershipState::Join);
        let admitted = self
            .rooms
            .rooms()
            .server_allowed_in_room(room_id, origin)
            .unwrap_or(false);
        if !joined || !admitted {
            return;
        }
        // Servers send no timeout; 30 s is what Synapse and the spec's examples use.
        let timeout = content.typing.then_some(std::time::Duration::from_secs(30));
        if let Err(err) = self.rooms.apply_typing(room_id, user_id, timeout) {
            tracing::info!(%err, "typing EDU not applied");
        }
    }
}
