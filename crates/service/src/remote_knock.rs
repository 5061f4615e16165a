//! Knocking on a room this server is not in (spec: "Knocking upon a room"): `make_knock` and
//! `send_knock` through a resident server. The answer's stripped state is kept, like a remote
//! invite's, so `/sync` lists the room under `knock` until the user is invited, joins or
//! withdraws (`make_leave` / `send_leave` through the same server).

use accord_db::rooms::RemoteInvite;
use ruma::events::room::member::MembershipState;
use ruma::{
    CanonicalJsonObject, OwnedRoomId, OwnedServerName, RoomId, RoomOrAliasId, RoomVersionId, ServerName,
    api::federation::membership::{create_knock_event::v1 as send_knock, prepare_knock_event::v1 as make_knock},
};
use serde_json::Value;

use crate::{AuthedUser, Error, Result, Services, remote_membership::strip};

impl Services {
    /// Knocks on a room by id or alias: locally when this server is in the room, otherwise
    /// through a resident server (`via`, the alias's servers, the room id's server).
    pub async fn knock_anywhere(
        &self,
        user: &AuthedUser,
        room: &RoomOrAliasId,
        via: &[OwnedServerName],
        reason: Option<String>,
    ) -> Result<OwnedRoomId> {
        if self.federation.is_none() {
            if let Ok(room_id) = <&RoomId>::try_from(room.as_str()) {
                self.gate_join(user, room_id, false)?;
            } else {
                crate::account_state::ensure_not_suspended(self.db(), &user.user_id)?;
            }
            return self.rooms.knock(user, room, reason).await;
        }
        let (room_id, servers) = self.room_and_servers(&user.user_id, room, via).await?;
        let resident = self.is_resident(&room_id)?;
        self.gate_join(user, &room_id, !resident)?;
        if resident {
            return self.rooms.knock(user, <&RoomOrAliasId>::from(&*room_id), reason).await;
        }
        let mut last_error = Error::not_found(format!(
            "Room {room_id} is not known here; give `via` servers to knock through"
        ));
        for server in servers {
            match self.knock_through(user, &room_id, &server, reason.clone()).await {
                Ok(()) => return Ok(room_id),
                Err(err) => {
                    tracing::info!(%server, room = %room_id, %err, "remote knock attempt failed");
                    last_error = err;
                }
            }
        }
        Err(last_error)
    }

    async fn knock_through(
        &self,
        user: &AuthedUser,
        room_id: &RoomId,
        server: &ServerName,
        reason: Option<String>,
    ) -> Result<()> {
        let federation = self.federation_for("Knocking")?;
        let mut request = make_knock::Request::new(room_id.to_owned(), user.user_id.clone());
        request.ver = crate::rooms::SUPPORTED_ROOM_VERSIONS.to_vec();
        let template = federation
            .client()
            .send(server, request)
            .await
            .map_err(|err| crate::remote::remote_error(&format!("Room {room_id}"), err))?;
        let version: RoomVersionId = template.room_version;
        let rules = accord_room::rules_for(&version)?;
        let mut knock: CanonicalJsonObject = serde_json::from_str(template.event.get())
            .map_err(|err| Error::bad_json(format!("{server} sent an unreadable knock template: {err}")))?;
        let event_id = self.sign_membership(&mut knock, &rules, &user.user_id, reason, Default::default())?;
        let pdu = serde_json::value::to_raw_value(&knock).map_err(|err| Error::Internal(err.to_string()))?;
        let response = federation
            .client()
            .send(server, send_knock::Request::new(room_id.to_owned(), event_id, pdu))
            .await
            .map_err(|err| crate::remote::remote_error(&format!("Room {room_id}"), err))?;
        let own = serde_json::to_value(&knock).map_err(|err| Error::Internal(err.to_string()))?;
        let mut stripped: Vec<Value> = response
            .knock_room_state
            .iter()
            .filter_map(|raw| serde_json::to_value(raw).ok())
            .map(|event| strip(&event))
            .collect();
        stripped.push(strip(&own));
        let record = RemoteInvite {
            stripped_state: stripped,
            servers: vec![server.to_owned()],
        };
        self.set_remote_membership(&user.user_id, room_id, MembershipState::Knock, Some(&record))
            .await?;
        tracing::info!(room = %room_id, via = %server, user = %user.user_id, "knocked on a remote room");
        Ok(())
    }
}
