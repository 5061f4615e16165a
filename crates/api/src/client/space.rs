//! `GET /_matrix/client/v1/rooms/{roomId}/hierarchy` (spec: "Spaces"); the walk is
//! `RoomService::hierarchy`'s.

use accord_service::{Services, rooms::HierarchyQuery};
use ruma::api::client::space::{SpaceHierarchyRoomsChunk, get_hierarchy::v1 as get_hierarchy};

use crate::{Result, Ruma, count::count, raw::raws};

/// # `GET /_matrix/client/v1/rooms/{roomId}/hierarchy`
pub async fn get_hierarchy_route(
    services: Services,
    request: Ruma<get_hierarchy::Request>,
) -> Result<get_hierarchy::Response> {
    let body = &request.body;
    let query = HierarchyQuery {
        from: body.from.as_deref(),
        limit: body.limit.map(count),
        max_depth: body.max_depth.map(count),
        suggested_only: body.suggested_only,
    };
    let page = services.hierarchy(&request.auth, &body.room_id, query).await?;
    let mut response = get_hierarchy::Response::new();
    for room in page.rooms {
        response
            .rooms
            .push(SpaceHierarchyRoomsChunk::new(room.summary, raws(&room.children_state)?));
    }
    response.next_batch = page.next_batch;
    Ok(response)
}
