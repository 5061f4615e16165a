//! `POST /_matrix/client/v3/rooms/{roomId}/upgrade` (spec: "Room Upgrades"); the upgrade is
//! `RoomService::upgrade_room`'s, the settings that follow it `Services::upgrade_room`'s.

use accord_service::{Services, rate_limits::RateClass, rooms::upgrade::UpgradeRequest};
use ruma::api::client::room::upgrade_room::v3 as upgrade_room;

use crate::{Result, Ruma};

/// # `POST /_matrix/client/v3/rooms/{roomId}/upgrade`
pub async fn upgrade_room_route(
    services: Services,
    request: Ruma<upgrade_room::Request>,
) -> Result<upgrade_room::Response> {
    // An upgrade sends a tombstone and a new room's worth of events: counted as one message.
    services.rate_limits.check_user(RateClass::Message, &request.auth)?;
    let body = request.body;
    let upgrade = UpgradeRequest {
        new_version: body.new_version,
        additional_creators: body.additional_creators,
    };
    let replacement = services.upgrade_room(&request.auth, &body.room_id, &upgrade).await?;
    Ok(upgrade_room::Response::new(replacement))
}
