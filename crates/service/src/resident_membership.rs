//! Other servers' users joining, knocking on and leaving rooms this server is in, the resident
//! side of `make_*` / `send_*`. Restricted rooms (spec: "Restricted rooms"): the join template
//! names a local member who vouches for the join, and the signed join is countersigned here
//! before it is accepted and handed back.

use accord_room::JoinedRoomState;
use ruma::events::room::member::MembershipState;
use ruma::{
    CanonicalJsonObject, CanonicalJsonValue, EventId, RoomId, RoomVersionId, ServerName, UserId,
    api::federation::membership::RawStrippedState,
};
use serde_json::{Map, Value};

use crate::{Error, Result, Services};

/// A join accepted from another server.
#[derive(Debug)]
pub struct AcceptedJoin {
    /// The state before the join and its auth chain.
    pub state: JoinedRoomState,
    /// The join with this server's signature added, for restricted joins this server
    /// authorised.
    pub countersigned: Option<CanonicalJsonObject>,
}

impl Services {
    /// `make_join` / `make_knock` / `make_leave`: a template for `user_id`, refused when the
    /// room's version is not among `ver` (when given) or the rules would not allow it.
    pub async fn remote_membership_template(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        membership: MembershipState,
        ver: Option<&[RoomVersionId]>,
    ) -> Result<(RoomVersionId, CanonicalJsonObject)> {
        let rooms = self.rooms.rooms();
        let version = rooms.room_version(room_id)?;
        if let Some(ver) = ver
            && !ver.contains(&version)
        {
            return Err(Error::new(
                ruma::api::error::ErrorKind::IncompatibleRoomVersion(
                    ruma::api::error::IncompatibleRoomVersionErrorData::new(version.clone()),
                ),
                format!("The room is version {version}, which your server does not support"),
            ));
        }
        let mut extra = Map::new();
        if membership == MembershipState::Join {
            let current = rooms.current_state(room_id)?;
            if let Some(authoriser) = self.rooms.restricted_join_authoriser(&current, user_id)? {
                extra.insert(
                    "join_authorised_via_users_server".to_owned(),
                    Value::String(authoriser.to_string()),
                );
            }
        }
        Ok(rooms.membership_template(room_id, user_id, membership, extra).await?)
    }

    /// `send_join`: checks and stores another server's join; a restricted join vouched for by
    /// a local member is checked against the room's conditions again and countersigned first.
    pub async fn receive_join(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        event_id: &EventId,
        mut object: CanonicalJsonObject,
    ) -> Result<AcceptedJoin> {
        let federation = self.federation_for("The join")?;
        let rules = self.signing_rules(room_id);
        let authoriser = match object.get("content") {
            Some(CanonicalJsonValue::Object(content)) => match content.get("join_authorised_via_users_server") {
                Some(CanonicalJsonValue::String(user)) => UserId::parse(user).ok(),
                _ => None,
            },
            _ => None,
        };
        let mut countersigned = None;
        if let Some(authoriser) = authoriser.filter(|user| user.server_name() == self.config.server_name) {
            let sender = match object.get("sender") {
                Some(CanonicalJsonValue::String(sender)) => {
                    UserId::parse(sender).map_err(|_| Error::bad_json("The join's sender is not a user id"))?
                }
                _ => return Err(Error::bad_json("The join has no sender")),
            };
            let current = self.rooms.rooms().current_state(room_id)?;
            self.rooms.restricted_join_authoriser(&current, &sender)?;
            self.rooms.rooms().sign_event(&mut object, &rules)?;
            tracing::info!(room = %room_id, user = %sender, %authoriser, "authorised a restricted join");
            countersigned = Some(object.clone());
        }
        let keys = federation
            .event_signing_keys(&object, &rules)
            .await
            .map_err(|err| match err {
                accord_federation::Error::Forbidden(message) => Error::forbidden(message),
                other => Error::forbidden(format!("Cannot verify the join's signatures: {other}")),
            })?;
        self.forget_devices_of_joining_user(&object);
        let state = self
            .rooms
            .rooms()
            .accept_remote_join(origin, room_id, event_id, object, &keys)
            .await?;
        self.relay_membership(room_id, event_id, origin).await;
        Ok(AcceptedJoin { state, countersigned })
    }

    /// `send_knock`: stores another server's knock of its own user; answers the room's
    /// stripped state.
    pub async fn receive_knock(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        event_id: &EventId,
        object: CanonicalJsonObject,
    ) -> Result<Vec<RawStrippedState>> {
        let value = serde_json::to_value(&object).map_err(|err| Error::Internal(err.to_string()))?;
        let own_knock = value["type"] == "m.room.member"
            && value["content"]["membership"] == "knock"
            && value["state_key"] == value["sender"]
            && value["sender"]
                .as_str()
                .and_then(|s| UserId::parse(s).ok())
                .is_some_and(|user| user.server_name() == origin);
        if !own_knock {
            return Err(Error::bad_json(
                "send_knock takes a knock of the origin server's own user",
            ));
        }
        let stored = self.receive_pdu(origin, room_id, object).await?;
        if stored != event_id {
            return Err(Error::bad_json(format!(
                "The knock's event id is {stored}, not {event_id}"
            )));
        }
        tracing::info!(room = %room_id, %origin, "remote user knocked");
        self.relay_membership(room_id, event_id, origin).await;
        self.stripped_state_pdus(room_id, None)
    }

    /// Passes a membership event accepted through `send_join`, `send_leave` or `send_knock` on
    /// to the room's other servers (its origin gave it to us only). A failure is logged: the
    /// event is stored, and the others can still fetch it as a missing event.
    pub async fn relay_membership(&self, room_id: &RoomId, event_id: &EventId, origin: &ServerName) {
        if let Err(err) = self
            .rooms
            .rooms()
            .relay_to_other_servers(room_id, event_id, origin)
            .await
        {
            tracing::warn!(room = %room_id, %event_id, %err, "cannot relay a membership event to the room's other servers");
        }
    }
}
