//! Reporting content (spec: "Reporting content"): events, rooms and users; the checks and
//! storage are `Services::report_*`'s.

use accord_service::{Error, Services, rate_limits::RateClass};
use ruma::api::client::{
    reporting::report_user::v3 as report_user,
    room::{report_content::v3 as report_content, report_room::v3 as report_room},
};
use serde_json::Value;

use crate::{ApiError, Result, Ruma};

/// # `POST /_matrix/client/v3/rooms/{roomId}/report/{eventId}`
pub async fn report_event_route(
    services: Services,
    request: Ruma<report_content::Request>,
) -> Result<report_content::Response> {
    // `score` left the spec in v1.18 and ruma's type; still read when sent, and must then be
    // an integer (Synapse answers the same 400).
    let sent: Value = serde_json::from_slice(&request.raw_body).unwrap_or_default();
    let score = match sent.get("score") {
        None | Some(Value::Null) => None,
        Some(score) => Some(
            score
                .as_i64()
                .ok_or_else(|| ApiError::from(Error::bad_json("score must be an integer")))?,
        ),
    };
    let body = request.body;
    services.rate_limits.check_user(RateClass::Reports, &request.auth)?;
    services.report_event(&request.auth, &body.room_id, &body.event_id, body.reason, score)?;
    Ok(report_content::Response::new())
}

/// # `POST /_matrix/client/v3/rooms/{roomId}/report`
pub async fn report_room_route(
    services: Services,
    request: Ruma<report_room::Request>,
) -> Result<report_room::Response> {
    require_reason(&request.raw_body)?;
    let body = request.body;
    services.rate_limits.check_user(RateClass::Reports, &request.auth)?;
    services.report_room(&request.auth, &body.room_id, body.reason)?;
    Ok(report_room::Response::new())
}

/// # `POST /_matrix/client/v3/users/{userId}/report`
pub async fn report_user_route(
    services: Services,
    request: Ruma<report_user::Request>,
) -> Result<report_user::Response> {
    require_reason(&request.raw_body)?;
    let body = request.body;
    services.rate_limits.check_user(RateClass::Reports, &request.auth)?;
    services.report_user(&request.auth, &body.user_id, body.reason)?;
    Ok(report_user::Response::new())
}

/// The spec requires `reason` for room and user reports; ruma's types default a missing one to
/// the empty string.
fn require_reason(raw_body: &[u8]) -> Result<()> {
    let sent: Value = serde_json::from_slice(raw_body).unwrap_or_default();
    match sent.get("reason") {
        Some(Value::String(_)) => Ok(()),
        _ => Err(ApiError::from(Error::bad_json(
            "reason is required and must be a string",
        ))),
    }
}
