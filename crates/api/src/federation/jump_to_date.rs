//! `GET /_matrix/federation/v1/timestamp_to_event/{roomId}` (spec: server-server API "Jump to
//! date"): answered from this server's own timeline, among events the asking server may see.

use accord_service::{
    Services,
    rooms::jump_to_date::{Asker, nothing_at},
};
use ruma::{MilliSecondsSinceUnixEpoch, UInt, api::federation::event::get_event_by_timestamp::v1 as by_ts};

use crate::{Result, Ruma, client::jump_to_date::direction};

/// # `GET /_matrix/federation/v1/timestamp_to_event/{roomId}`
pub(crate) async fn timestamp_to_event_route(
    services: Services,
    request: Ruma<by_ts::Request>,
) -> Result<by_ts::Response> {
    let body = &request.body;
    let ts = u64::from(body.ts.get());
    let direction = direction(body.dir);
    let found = services
        .rooms
        .event_by_time(Asker::Server(&request.auth), &body.room_id, ts, direction)?
        .ok_or_else(|| nothing_at(ts, direction))?;
    Ok(by_ts::Response::new(
        found.event_id,
        MilliSecondsSinceUnixEpoch(UInt::new_saturating(found.ts)),
    ))
}
