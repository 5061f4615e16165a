//! `GET /_matrix/federation/v1/hierarchy/{roomId}` (spec: server-server API "Spaces"): a room
//! of this server's and its direct children, as far as the asking server may preview them.

use accord_service::Services;
use ruma::api::federation::space::{SpaceHierarchyParentSummary, get_hierarchy::v1 as get_hierarchy};

use crate::{Result, Ruma, raw::raws};

/// # `GET /_matrix/federation/v1/hierarchy/{roomId}`
pub(crate) async fn get_hierarchy_route(
    services: Services,
    request: Ruma<get_hierarchy::Request>,
) -> Result<get_hierarchy::Response> {
    let body = &request.body;
    let (room, children, inaccessible) =
        services
            .rooms
            .hierarchy_for_server(&request.auth, &body.room_id, body.suggested_only)?;
    let mut response = get_hierarchy::Response::new(SpaceHierarchyParentSummary::new(
        room.summary,
        raws(&room.children_state)?,
    ));
    response.children = children;
    response.inaccessible_children = inaccessible;
    Ok(response)
}
