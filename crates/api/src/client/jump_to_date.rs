//! `GET /_matrix/client/v1/rooms/{roomId}/timestamp_to_event` (spec: "Jump to date"); the
//! search, local and across servers, is `Services::timestamp_to_event`'s.

use accord_service::Services;
use ruma::{MilliSecondsSinceUnixEpoch, UInt, api::client::room::get_event_by_timestamp::v1 as by_ts};

use crate::{Result, Ruma};

/// The storage direction of the API's.
pub(crate) fn direction(dir: ruma::api::Direction) -> accord_service::Direction {
    match dir {
        ruma::api::Direction::Forward => accord_service::Direction::Forward,
        ruma::api::Direction::Backward => accord_service::Direction::Backward,
    }
}

/// # `GET /_matrix/client/v1/rooms/{roomId}/timestamp_to_event`
pub async fn timestamp_to_event_route(services: Services, request: Ruma<by_ts::Request>) -> Result<by_ts::Response> {
    let body = &request.body;
    let (event_id, ts) = services
        .timestamp_to_event(
            &request.auth.user_id,
            &body.room_id,
            u64::from(body.ts.get()),
            direction(body.dir),
        )
        .await?;
    Ok(by_ts::Response::new(
        event_id,
        MilliSecondsSinceUnixEpoch(UInt::new_saturating(ts)),
    ))
}
