//! Remote servers' users joining and leaving local rooms (`make_join`/`send_join`,
//! `make_leave`/`send_leave`, v2) and invites of local users (`invite` v2).

use accord_service::{Error, Services};
use ruma::{
    CanonicalJsonObject,
    api::federation::membership::{
        create_invite::v2 as send_invite, create_join_event::v2 as send_join, create_leave_event::v2 as send_leave,
        prepare_join_event::v1 as make_join, prepare_leave_event::v1 as make_leave,
    },
};

use crate::{ApiError, Result, Ruma};

fn raw(value: &impl serde::Serialize) -> Result<Box<serde_json::value::RawValue>> {
    serde_json::value::to_raw_value(value).map_err(|err| ApiError::from(Error::Internal(err.to_string())))
}

fn federation(services: &Services) -> Result<&accord_federation::Federation> {
    services
        .federation
        .as_ref()
        .ok_or_else(|| ApiError::from(Error::not_found("Federation is disabled on this server")))
}

/// # `GET /_matrix/federation/v1/make_join/{roomId}/{userId}`
pub async fn prepare_join_event_route(
    services: Services,
    request: Ruma<make_join::Request>,
) -> Result<make_join::Response> {
    let origin = request.auth;
    let body = request.body;
    if body.user_id.server_name() != origin {
        return Err(ApiError::from(Error::forbidden(
            "You can only make joins for your own users",
        )));
    }
    let rooms = services.rooms.rooms();
    let version = rooms.room_version(&body.room_id).map_err(Error::from)?;
    if !body.ver.is_empty() && !body.ver.contains(&version) {
        return Err(ApiError::new(
            ruma::api::error::ErrorKind::IncompatibleRoomVersion(
                ruma::api::error::IncompatibleRoomVersionErrorData::new(version.clone()),
            ),
            format!("The room is version {version}, which your server does not support"),
        ));
    }
    let (version, template) = rooms
        .join_template(&body.room_id, &body.user_id)
        .await
        .map_err(Error::from)?;
    let mut response = make_join::Response::new(raw(&template)?);
    response.room_version = Some(version);
    Ok(response)
}

/// # `PUT /_matrix/federation/v2/send_join/{roomId}/{eventId}`
pub async fn create_join_event_route(
    services: Services,
    request: Ruma<send_join::Request>,
) -> Result<send_join::Response> {
    let origin = request.auth;
    let body = request.body;
    let object: CanonicalJsonObject = serde_json::from_str(body.pdu.get())
        .map_err(|err| ApiError::from(Error::bad_json(format!("The join event is not canonical JSON: {err}"))))?;
    let keys = federation(&services)?
        .event_signing_keys(&object, &services.signing_rules(&body.room_id))
        .await
        .map_err(|err| match err {
            accord_federation::Error::Forbidden(message) => ApiError::from(Error::forbidden(message)),
            other => ApiError::from(Error::forbidden(format!(
                "Cannot verify the join's signatures: {other}"
            ))),
        })?;
    let joined = services
        .rooms
        .rooms()
        .accept_remote_join(&origin, &body.room_id, &body.event_id, object, &keys)
        .await
        .map_err(Error::from)?;
    let mut state = send_join::RoomState::new();
    state.state = joined.state.iter().map(raw).collect::<Result<_>>()?;
    state.auth_chain = joined.auth_chain.iter().map(raw).collect::<Result<_>>()?;
    state.servers_in_room = Some(vec![services.config.server_name.to_string()]);
    Ok(send_join::Response::new(state))
}

/// # `PUT /_matrix/federation/v2/invite/{roomId}/{eventId}`
pub async fn create_invite_route(
    services: Services,
    request: Ruma<send_invite::Request>,
) -> Result<send_invite::Response> {
    let origin = request.auth;
    let body = request.body;
    let event: CanonicalJsonObject = serde_json::from_str(body.event.get())
        .map_err(|err| ApiError::from(Error::bad_json(format!("The invite is not canonical JSON: {err}"))))?;
    let invite_state: Vec<serde_json::Value> = body
        .invite_room_state
        .iter()
        .filter_map(|raw| serde_json::to_value(raw).ok())
        .collect();
    let signed = services
        .receive_invite(
            &origin,
            &body.room_id,
            &body.event_id,
            &body.room_version,
            event,
            &invite_state,
        )
        .await?;
    Ok(send_invite::Response::new(raw(&signed)?))
}

/// # `GET /_matrix/federation/v1/make_leave/{roomId}/{userId}`
pub async fn prepare_leave_event_route(
    services: Services,
    request: Ruma<make_leave::Request>,
) -> Result<make_leave::Response> {
    let body = request.body;
    if body.user_id.server_name() != request.auth {
        return Err(ApiError::from(Error::forbidden(
            "You can only make leaves for your own users",
        )));
    }
    let (version, template) = services
        .rooms
        .rooms()
        .membership_template(&body.room_id, &body.user_id, "leave")
        .await
        .map_err(Error::from)?;
    Ok(make_leave::Response::new(Some(version), raw(&template)?))
}

/// # `PUT /_matrix/federation/v2/send_leave/{roomId}/{eventId}`
pub async fn create_leave_event_route(
    services: Services,
    request: Ruma<send_leave::Request>,
) -> Result<send_leave::Response> {
    let origin = request.auth;
    let body = request.body;
    let object: CanonicalJsonObject = serde_json::from_str(body.pdu.get())
        .map_err(|err| ApiError::from(Error::bad_json(format!("The leave event is not canonical JSON: {err}"))))?;
    let value = serde_json::to_value(&object).map_err(|err| ApiError::from(Error::Internal(err.to_string())))?;
    let own_leave = value["type"] == "m.room.member"
        && value["content"]["membership"] == "leave"
        && value["state_key"] == value["sender"]
        && value["sender"]
            .as_str()
            .and_then(|s| ruma::UserId::parse(s).ok())
            .is_some_and(|user| user.server_name() == origin);
    if !own_leave {
        return Err(ApiError::from(Error::bad_json(
            "send_leave takes a leave of the origin server's own user",
        )));
    }
    let event_id = services.receive_pdu(&origin, &body.room_id, object).await?;
    if event_id != body.event_id {
        return Err(ApiError::from(Error::bad_json(format!(
            "The leave's event id is {event_id}, not {}",
            body.event_id
        ))));
    }
    Ok(send_leave::Response::new())
}
