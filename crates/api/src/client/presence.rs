//! Presence.

use accord_service::{Error, Services};
use ruma::api::client::presence::{get_presence::v3 as get_presence, set_presence::v3 as set_presence};
use serde_json::Value;

use crate::{ApiError, Result, Ruma};

/// # `PUT /_matrix/client/v3/presence/{userId}/status`
pub async fn set_presence_route(
    services: Services,
    request: Ruma<set_presence::Request>,
) -> Result<set_presence::Response> {
    let body = request.body;
    services.set_presence(&request.auth, &body.user_id, body.presence.as_str(), body.status_msg)?;
    Ok(set_presence::Response::new())
}

/// # `GET /_matrix/client/v3/presence/{userId}/status`
pub async fn get_presence_route(services: Services, request: Ruma<get_presence::Request>) -> Result<Value> {
    services
        .get_presence(&request.auth.user_id, &request.body.user_id)
        .map_err(|err: Error| ApiError::from(err))
}
