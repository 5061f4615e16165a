//! Remote servers joining local rooms: `make_join` and `send_join` (v2).

use accord_service::{Error, Services};
use ruma::{
    CanonicalJsonObject,
    api::federation::membership::{create_join_event::v2 as send_join, prepare_join_event::v1 as make_join},
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
        .event_signing_keys(&object)
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
