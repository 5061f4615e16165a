//! Room aliases, directory visibility and the public room list.

use crate::{Result, Ruma};
use accord_service::Services;
use ruma::api::client::{
    alias::{create_alias::v3 as create_alias, delete_alias::v3 as delete_alias, get_alias::v3 as get_alias},
    directory::{
        get_public_rooms::v3 as get_public_rooms, get_public_rooms_filtered::v3 as get_public_rooms_filtered,
        get_room_visibility::v3 as get_room_visibility, set_room_visibility::v3 as set_room_visibility,
    },
    room::{Visibility, aliases::v3 as aliases},
};

/// # `PUT /_matrix/client/v3/directory/room/{roomAlias}`
pub async fn create_alias_route(
    services: Services,
    request: Ruma<create_alias::Request>,
) -> Result<create_alias::Response> {
    services.check_alias_allowed(&request.auth, &request.body.room_alias)?;
    services
        .rooms
        .create_alias(&request.auth, &request.body.room_alias, &request.body.room_id)
        .await?;
    Ok(create_alias::Response::new())
}

/// # `GET /_matrix/client/v3/directory/room/{roomAlias}`
pub async fn get_alias_route(services: Services, request: Ruma<get_alias::Request>) -> Result<get_alias::Response> {
    let (room_id, servers) = services.resolve_alias_anywhere(&request.body.room_alias).await?;
    Ok(get_alias::Response::new(room_id, servers))
}

/// # `DELETE /_matrix/client/v3/directory/room/{roomAlias}`
pub async fn delete_alias_route(
    services: Services,
    request: Ruma<delete_alias::Request>,
) -> Result<delete_alias::Response> {
    services
        .rooms
        .delete_alias(&request.auth, &request.body.room_alias)
        .await?;
    Ok(delete_alias::Response::new())
}

/// # `GET /_matrix/client/v3/rooms/{roomId}/aliases`
pub async fn aliases_route(services: Services, request: Ruma<aliases::Request>) -> Result<aliases::Response> {
    Ok(aliases::Response::new(
        services.rooms.aliases(&request.auth, &request.body.room_id)?,
    ))
}

/// # `GET /_matrix/client/v3/directory/list/room/{roomId}`
pub async fn get_room_visibility_route(
    services: Services,
    request: Ruma<get_room_visibility::Request>,
) -> Result<get_room_visibility::Response> {
    let public = services.rooms.visibility(&request.body.room_id)?;
    Ok(get_room_visibility::Response::new(if public {
        Visibility::Public
    } else {
        Visibility::Private
    }))
}

/// # `PUT /_matrix/client/v3/directory/list/room/{roomId}`
pub async fn set_room_visibility_route(
    services: Services,
    request: Ruma<set_room_visibility::Request>,
) -> Result<set_room_visibility::Response> {
    let public = request.body.visibility == Visibility::Public;
    services
        .rooms
        .set_visibility(&request.auth, &request.body.room_id, public)
        .await?;
    Ok(set_room_visibility::Response::new())
}

/// # `GET /_matrix/client/v3/publicRooms`
pub async fn get_public_rooms_route(
    services: Services,
    request: Ruma<get_public_rooms::Request>,
) -> Result<get_public_rooms::Response> {
    let body = request.body;
    let limit = body.limit.map(crate::count::count);
    let page = services
        .public_rooms_anywhere(body.server.as_deref(), limit, body.since.as_deref(), None)
        .await?;
    let mut response = get_public_rooms::Response::new(page.chunk);
    response.next_batch = page.next_batch;
    response.prev_batch = page.prev_batch;
    response.total_room_count_estimate = page.total_room_count_estimate;
    Ok(response)
}

/// # `POST /_matrix/client/v3/publicRooms`
pub async fn get_public_rooms_filtered_route(
    services: Services,
    request: Ruma<get_public_rooms_filtered::Request>,
) -> Result<get_public_rooms_filtered::Response> {
    let body = request.body;
    let limit = body.limit.map(crate::count::count);
    let page = services
        .public_rooms_anywhere(
            body.server.as_deref(),
            limit,
            body.since.as_deref(),
            body.filter.generic_search_term.as_deref(),
        )
        .await?;
    let mut response = get_public_rooms_filtered::Response::new();
    response.chunk = page.chunk;
    response.next_batch = page.next_batch;
    response.prev_batch = page.prev_batch;
    response.total_room_count_estimate = page.total_room_count_estimate;
    Ok(response)
}
