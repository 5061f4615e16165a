//! Remote servers' users joining and leaving local rooms (`make_join`/`send_join`,
//! `make_leave`/`send_leave`, v2; `make_knock`/`send_knock`) and invites of local users
//! (`invite` v2).

use accord_service::{Error, Services};
use ruma::events::room::member::MembershipState;
use ruma::{
    CanonicalJsonObject,
    api::federation::membership::{
        create_invite::v2 as send_invite, create_join_event::v2 as send_join, create_knock_event::v1 as send_knock,
        create_leave_event::v2 as send_leave, prepare_join_event::v1 as make_join,
        prepare_knock_event::v1 as make_knock, prepare_leave_event::v1 as make_leave,
    },
};

use crate::{ApiError, Result, Ruma};

fn raw(value: &impl serde::Serialize) -> Result<Box<serde_json::value::RawValue>> {
    serde_json::value::to_raw_value(value).map_err(|err| ApiError::from(Error::Internal(err.to_string())))
}

fn canonical(pdu: &serde_json::value::RawValue, what: &str) -> Result<CanonicalJsonObject> {
    serde_json::from_str(pdu.get()).map_err(|err| {
        ApiError::from(Error::bad_json(format!(
            "The {what} event is not canonical JSON: {err}"
        )))
    })
}

/// Servers make membership events only for their own users.
fn own_user(origin: &ruma::ServerName, user_id: &ruma::UserId, what: &str) -> Result<()> {
    if user_id.server_name() != origin {
        return Err(ApiError::from(Error::forbidden(format!(
            "You can only make {what} for your own users"
        ))));
    }
    Ok(())
}

/// # `GET /_matrix/federation/v1/make_join/{roomId}/{userId}`
pub async fn prepare_join_event_route(
    services: Services,
    request: Ruma<make_join::Request>,
) -> Result<make_join::Response> {
    let body = request.body;
    own_user(&request.auth, &body.user_id, "joins")?;
    let ver = (!body.ver.is_empty()).then_some(body.ver.as_slice());
    let (version, template) = services
        .remote_membership_template(&body.room_id, &body.user_id, MembershipState::Join, ver)
        .await?;
    let mut response = make_join::Response::new(raw(&template)?);
    response.room_version = Some(version);
    Ok(response)
}

/// # `PUT /_matrix/federation/v2/send_join/{roomId}/{eventId}`
pub async fn create_join_event_route(
    services: Services,
    request: Ruma<send_join::Request>,
) -> Result<send_join::Response> {
    let body = request.body;
    let object = canonical(&body.pdu, "join")?;
    let joined = services
        .receive_join(&request.auth, &body.room_id, &body.event_id, object)
        .await?;
    let mut state = send_join::RoomState::new();
    state.state = joined.state.state.iter().map(raw).collect::<Result<_>>()?;
    state.auth_chain = joined.state.auth_chain.iter().map(raw).collect::<Result<_>>()?;
    state.event = joined.countersigned.as_ref().map(raw).transpose()?;
    state.servers_in_room = Some(vec![services.config.server_name.to_string()]);
    Ok(send_join::Response::new(state))
}

/// # `GET /_matrix/federation/v1/make_knock/{roomId}/{userId}`
pub async fn prepare_knock_event_route(
    services: Services,
    request: Ruma<make_knock::Request>,
) -> Result<make_knock::Response> {
    let body = request.body;
    own_user(&request.auth, &body.user_id, "knocks")?;
    let (version, template) = services
        .remote_membership_template(&body.room_id, &body.user_id, MembershipState::Knock, Some(&body.ver))
        .await?;
    Ok(make_knock::Response::new(version, raw(&template)?))
}

/// # `PUT /_matrix/federation/v1/send_knock/{roomId}/{eventId}`
pub async fn create_knock_event_route(
    services: Services,
    request: Ruma<send_knock::Request>,
) -> Result<send_knock::Response> {
    let body = request.body;
    let object = canonical(&body.pdu, "knock")?;
    let stripped = services
        .receive_knock(&request.auth, &body.room_id, &body.event_id, object)
        .await?;
    Ok(send_knock::Response::new(stripped))
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
    // Invites a local user receives from other servers count as theirs from anyone.
    if let Some(invitee) = event.get("state_key").and_then(|key| key.as_str()) {
        services
            .rate_limits
            .check_key(accord_service::rate_limits::RateClass::InvitesPerUser, invitee)?;
    }
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
    own_user(&request.auth, &body.user_id, "leaves")?;
    let (version, template) = services
        .remote_membership_template(&body.room_id, &body.user_id, MembershipState::Leave, None)
        .await?;
    Ok(make_leave::Response::new(Some(version), raw(&template)?))
}

/// # `PUT /_matrix/federation/v2/send_leave/{roomId}/{eventId}`
pub async fn create_leave_event_route(
    services: Services,
    request: Ruma<send_leave::Request>,
) -> Result<send_leave::Response> {
    let origin = request.auth;
    let body = request.body;
    let object = canonical(&body.pdu, "leave")?;
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
    services.relay_membership(&body.room_id, &event_id, &origin).await;
    Ok(send_leave::Response::new())
}
