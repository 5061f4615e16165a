//! Federation queries answered from local data: profiles, aliases, the public room directory
//! and OpenID token owners.

use crate::{ApiError, Result, Ruma};
use accord_service::{Error, Services};
use ruma::api::federation::{
    directory::{get_public_rooms::v1 as get_public_rooms, get_public_rooms_filtered::v1 as get_public_rooms_filtered},
    openid::get_openid_userinfo::v1 as get_openid_userinfo,
    query::{get_profile_information::v1 as get_profile_information, get_room_information::v1 as get_room_information},
};

/// # `GET /_matrix/federation/v1/query/profile`
pub async fn get_profile_information_route(
    services: Services,
    request: Ruma<get_profile_information::Request>,
) -> Result<get_profile_information::Response> {
    let body = request.body;
    if body.user_id.server_name() != services.config.server_name {
        return Err(ApiError::from(Error::invalid_param("The user is not on this server")));
    }
    let profile = services.profiles.get(&body.user_id)?;
    let mut response = get_profile_information::Response::new();
    for (field, value) in profile {
        if body.field.as_ref().is_none_or(|wanted| wanted.as_str() == field) {
            response.data.set(field, value);
        }
    }
    Ok(response)
}

/// # `GET /_matrix/federation/v1/query/directory`
pub async fn get_room_information_route(
    services: Services,
    request: Ruma<get_room_information::Request>,
) -> Result<get_room_information::Response> {
    let alias = &request.body.room_alias;
    if alias.server_name() != services.config.server_name {
        return Err(ApiError::from(Error::not_found(format!(
            "{alias} is not an alias on this server"
        ))));
    }
    let room_id = services.resolve_local_alias(alias).await?;
    Ok(get_room_information::Response::new(
        room_id,
        vec![services.config.server_name.clone()],
    ))
}

/// # `GET /_matrix/federation/v1/publicRooms`
pub async fn get_public_rooms_route(
    services: Services,
    request: Ruma<get_public_rooms::Request>,
) -> Result<get_public_rooms::Response> {
    let body = request.body;
    let limit = body.limit.map(crate::count::count);
    let page = services.rooms.public_rooms(limit, body.since.as_deref(), None)?;
    let mut response = get_public_rooms::Response::new();
    response.chunk = page.chunk;
    response.next_batch = page.next_batch;
    response.prev_batch = page.prev_batch;
    response.total_room_count_estimate = page.total_room_count_estimate;
    Ok(response)
}

/// # `POST /_matrix/federation/v1/publicRooms`
pub async fn get_public_rooms_filtered_route(
    services: Services,
    request: Ruma<get_public_rooms_filtered::Request>,
) -> Result<get_public_rooms_filtered::Response> {
    let body = request.body;
    let limit = body.limit.map(crate::count::count);
    let page = services
        .rooms
        .public_rooms(limit, body.since.as_deref(), body.filter.generic_search_term.as_deref())?;
    let mut response = get_public_rooms_filtered::Response::new();
    response.chunk = page.chunk;
    response.next_batch = page.next_batch;
    response.prev_batch = page.prev_batch;
    response.total_room_count_estimate = page.total_room_count_estimate;
    Ok(response)
}

/// # `GET /_matrix/federation/v1/openid/userinfo`
pub async fn get_openid_userinfo_route(
    services: Services,
    request: Ruma<get_openid_userinfo::Request>,
) -> Result<get_openid_userinfo::Response> {
    let user_id = services.openid_userinfo(&request.body.access_token)?;
    Ok(get_openid_userinfo::Response::new(user_id))
}
