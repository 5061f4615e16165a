//! Membership: join, invite, leave, forget, kick, ban, unban, knock; member lists.

use accord_service::{Error, Services};
use ruma::api::client::{
    knock::knock_room::v3 as knock_room,
    membership::{
        ban_user::v3 as ban_user,
        forget_room::v3 as forget_room,
        get_member_events::v3 as get_member_events,
        invite_user::v3::{self as invite_user, InvitationRecipient},
        join_room_by_id::v3 as join_room_by_id,
        join_room_by_id_or_alias::v3 as join_room_by_id_or_alias,
        joined_members::v3 as joined_members,
        joined_rooms::v3 as joined_rooms,
        kick_user::v3 as kick_user,
        leave_room::v3 as leave_room,
        unban_user::v3 as unban_user,
    },
};

use crate::{ApiError, Result, Ruma, raw::raws};

/// # `POST /_matrix/client/v3/rooms/{roomId}/join`
pub async fn join_room_by_id_route(
    services: Services,
    request: Ruma<join_room_by_id::Request>,
) -> Result<join_room_by_id::Response> {
    let room = request
        .body
        .room_id
        .as_str()
        .try_into()
        .map_err(|_| ApiError::from(Error::invalid_param("Invalid room id")))?;
    let extra = member_extras(&request.raw_body);
    let room_id = services
        .join_anywhere(&request.auth, room, &[], request.body.reason, extra)
        .await?;
    Ok(join_room_by_id::Response::new(room_id))
}

/// # `POST /_matrix/client/v3/join/{roomIdOrAlias}`
pub async fn join_room_by_id_or_alias_route(
    services: Services,
    request: Ruma<join_room_by_id_or_alias::Request>,
) -> Result<join_room_by_id_or_alias::Response> {
    let extra = member_extras(&request.raw_body);
    let body = request.body;
    let room_id = services
        .join_anywhere(&request.auth, &body.room_id_or_alias, &body.via, body.reason, extra)
        .await?;
    Ok(join_room_by_id_or_alias::Response::new(room_id))
}

/// # `POST /_matrix/client/v3/knock/{roomIdOrAlias}`
pub async fn knock_room_route(services: Services, request: Ruma<knock_room::Request>) -> Result<knock_room::Response> {
    let body = request.body;
    let room_id = services
        .knock_anywhere(&request.auth, &body.room_id_or_alias, &body.via, body.reason)
        .await?;
    Ok(knock_room::Response::new(room_id))
}

/// # `POST /_matrix/client/v3/rooms/{roomId}/invite`
pub async fn invite_user_route(
    services: Services,
    request: Ruma<invite_user::Request>,
) -> Result<invite_user::Response> {
    let body = request.body;
    let InvitationRecipient::UserId(recipient) = body.recipient else {
        return Err(ApiError::from(Error::forbidden(
            "Third-party invites are not supported by this server",
        )));
    };
    services
        .invite_anywhere(
            &request.auth,
            &body.room_id,
            &recipient.user_id,
            recipient.reason,
            false,
        )
        .await?;
    Ok(invite_user::Response::new())
}

/// # `POST /_matrix/client/v3/rooms/{roomId}/leave`
pub async fn leave_room_route(services: Services, request: Ruma<leave_room::Request>) -> Result<leave_room::Response> {
    services
        .leave_anywhere(&request.auth, &request.body.room_id, request.body.reason)
        .await?;
    Ok(leave_room::Response::new())
}

/// # `POST /_matrix/client/v3/rooms/{roomId}/forget`
pub async fn forget_room_route(
    services: Services,
    request: Ruma<forget_room::Request>,
) -> Result<forget_room::Response> {
    services.rooms.forget(&request.auth, &request.body.room_id).await?;
    Ok(forget_room::Response::new())
}

/// # `POST /_matrix/client/v3/rooms/{roomId}/kick`
pub async fn kick_user_route(services: Services, request: Ruma<kick_user::Request>) -> Result<kick_user::Response> {
    let body = request.body;
    services
        .rooms
        .kick(&request.auth, &body.room_id, &body.user_id, body.reason)
        .await?;
    Ok(kick_user::Response::new())
}

/// # `POST /_matrix/client/v3/rooms/{roomId}/ban`
pub async fn ban_user_route(services: Services, request: Ruma<ban_user::Request>) -> Result<ban_user::Response> {
    let body = request.body;
    services
        .rooms
        .ban(&request.auth, &body.room_id, &body.user_id, body.reason)
        .await?;
    Ok(ban_user::Response::new())
}

/// # `POST /_matrix/client/v3/rooms/{roomId}/unban`
pub async fn unban_user_route(services: Services, request: Ruma<unban_user::Request>) -> Result<unban_user::Response> {
    let body = request.body;
    services
        .rooms
        .unban(&request.auth, &body.room_id, &body.user_id, body.reason)
        .await?;
    Ok(unban_user::Response::new())
}

/// # `GET /_matrix/client/v3/joined_rooms`
pub async fn joined_rooms_route(
    services: Services,
    request: Ruma<joined_rooms::Request>,
) -> Result<joined_rooms::Response> {
    Ok(joined_rooms::Response::new(
        services.rooms.joined_rooms(&request.auth.user_id)?,
    ))
}

/// # `GET /_matrix/client/v3/rooms/{roomId}/members`
pub async fn get_member_events_route(
    services: Services,
    request: Ruma<get_member_events::Request>,
) -> Result<get_member_events::Response> {
    let body = request.body;
    let chunk = services.rooms.members(
        &request.auth,
        &body.room_id,
        body.at.as_deref(),
        body.membership.as_ref().map(|m| m.as_str()),
        body.not_membership.as_ref().map(|m| m.as_str()),
    )?;
    Ok(get_member_events::Response::new(raws(&chunk)?))
}

/// # `GET /_matrix/client/v3/rooms/{roomId}/joined_members`
pub async fn joined_members_route(
    services: Services,
    request: Ruma<joined_members::Request>,
) -> Result<joined_members::Response> {
    let members = services.rooms.joined_members(&request.auth, &request.body.room_id)?;
    let joined = members
        .into_iter()
        .map(|(user, content)| {
            let mut member = joined_members::RoomMember::new();
            member.display_name = content.displayname;
            member.avatar_url = content.avatar_url;
            (user, member)
        })
        .collect();
    Ok(joined_members::Response::new(joined))
}

/// Writes `/joined_members` with `display_name` and `avatar_url` on every member, `null` when
/// unset. ruma leaves unset ones out, which the spec allows; Synapse writes both and
/// Complement's TestRoomState requires the keys.
pub(crate) fn render_joined_members(response: joined_members::Response) -> axum::response::Response {
    use axum::response::IntoResponse;
    let joined: serde_json::Map<String, serde_json::Value> = response
        .joined
        .into_iter()
        .map(|(user, member)| {
            let fields = serde_json::json!({
                "display_name": member.display_name,
                "avatar_url": member.avatar_url,
            });
            (user.to_string(), fields)
        })
        .collect();
    axum::Json(serde_json::json!({ "joined": joined })).into_response()
}

/// Keys a client added to a join's body, kept in the member event's content: the spec lets
/// clients add their own keys to member content, Synapse keeps them, and Complement's
/// TestRoomMembers checks one. Keys with a meaning of their own in a join are not taken.
fn member_extras(body: &[u8]) -> serde_json::Map<String, serde_json::Value> {
    const RESERVED: &[&str] = &[
        "membership",
        "reason",
        "third_party_signed",
        "join_authorised_via_users_server",
        "displayname",
        "avatar_url",
    ];
    let mut extra: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(body).unwrap_or_default();
    extra.retain(|key, _| !RESERVED.contains(&key.as_str()));
    extra
}
