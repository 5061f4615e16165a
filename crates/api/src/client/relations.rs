//! Relations and threads (spec: "Relationships", "Threading"): `/relations` with its three
//! paths and `/threads`; the pages come from `RoomService::relations` and `::threads`.

use accord_service::{
    Services,
    rooms::{RelationsPage, RelationsQuery},
};
use ruma::api::{
    Direction,
    client::{
        relations::{
            get_relating_events::v1 as relating, get_relating_events_with_rel_type::v1 as relating_with_rel_type,
            get_relating_events_with_rel_type_and_event_type::v1 as relating_with_type,
        },
        threads::get_threads::v1 as threads,
    },
};

use crate::{Result, Ruma, raw::raws};

/// The query fields the three `/relations` requests share.
fn query<'a>(
    from: &'a Option<String>,
    to: &'a Option<String>,
    dir: Direction,
    count: Option<ruma::UInt>,
    recurse: bool,
) -> RelationsQuery<'a> {
    RelationsQuery {
        from: from.as_deref(),
        to: to.as_deref(),
        backward: dir == Direction::Backward,
        limit: count.map(crate::count::count),
        recurse,
        ..RelationsQuery::default()
    }
}

/// The page as one of the three `/relations` responses (same fields, three types).
macro_rules! relations_response {
    ($endpoint:ident, $page:expr) => {{
        let page: RelationsPage = $page;
        let mut response = $endpoint::Response::new(raws(&page.chunk)?);
        response.next_batch = page.next_batch;
        response.prev_batch = page.prev_batch;
        response.recursion_depth = page.recursion_depth.map(ruma::UInt::new_saturating);
        Ok(response)
    }};
}

/// # `GET /_matrix/client/v1/rooms/{roomId}/relations/{eventId}`
pub async fn get_relating_events_route(
    services: Services,
    request: Ruma<relating::Request>,
) -> Result<relating::Response> {
    let body = &request.body;
    let query = query(&body.from, &body.to, body.dir, body.limit, body.recurse);
    relations_response!(
        relating,
        services
            .rooms
            .relations(&request.auth, &body.room_id, &body.event_id, &query)?
    )
}

/// # `GET /_matrix/client/v1/rooms/{roomId}/relations/{eventId}/{relType}`
pub async fn get_relating_events_with_rel_type_route(
    services: Services,
    request: Ruma<relating_with_rel_type::Request>,
) -> Result<relating_with_rel_type::Response> {
    let body = &request.body;
    let rel_type = body.rel_type.to_string();
    let query = RelationsQuery {
        rel_type: Some(&rel_type),
        ..query(&body.from, &body.to, body.dir, body.limit, body.recurse)
    };
    relations_response!(
        relating_with_rel_type,
        services
            .rooms
            .relations(&request.auth, &body.room_id, &body.event_id, &query)?
    )
}

/// # `GET /_matrix/client/v1/rooms/{roomId}/relations/{eventId}/{relType}/{eventType}`
pub async fn get_relating_events_with_rel_type_and_event_type_route(
    services: Services,
    request: Ruma<relating_with_type::Request>,
) -> Result<relating_with_type::Response> {
    let body = &request.body;
    let rel_type = body.rel_type.to_string();
    let event_type = body.event_type.to_string();
    let query = RelationsQuery {
        rel_type: Some(&rel_type),
        event_type: Some(&event_type),
        ..query(&body.from, &body.to, body.dir, body.limit, body.recurse)
    };
    relations_response!(
        relating_with_type,
        services
            .rooms
            .relations(&request.auth, &body.room_id, &body.event_id, &query)?
    )
}

/// # `GET /_matrix/client/v1/rooms/{roomId}/threads`
pub async fn get_threads_route(services: Services, request: Ruma<threads::Request>) -> Result<threads::Response> {
    let body = &request.body;
    let participated = body.include == threads::IncludeThreads::Participated;
    let found = services.rooms.threads(
        &request.auth,
        &body.room_id,
        participated,
        body.from.as_deref(),
        body.limit.map(crate::count::count),
    )?;
    let mut response = threads::Response::new(raws(&found.chunk)?);
    response.next_batch = found.next_batch;
    Ok(response)
}
