//! Presence.

use crate::{Result, Ruma};
use accord_service::{Services, rate_limits::RateClass};
use ruma::api::client::presence::{get_presence::v3 as get_presence, set_presence::v3 as set_presence};

/// # `PUT /_matrix/client/v3/presence/{userId}/status`
pub async fn set_presence_route(
    services: Services,
    request: Ruma<set_presence::Request>,
) -> Result<set_presence::Response> {
    services.rate_limits.check_user(RateClass::Presence, &request.auth)?;
    let body = request.body;
    services.set_presence(&request.auth, &body.user_id, body.presence.as_str(), body.status_msg)?;
    Ok(set_presence::Response::new())
}

/// # `GET /_matrix/client/v3/presence/{userId}/status`
pub async fn get_presence_route(
    services: Services,
    request: Ruma<get_presence::Request>,
) -> Result<get_presence::Response> {
    let content = services.get_presence(&request.auth.user_id, &request.body.user_id)?;
    let mut response = get_presence::Response::new(content.presence);
    response.status_msg = content.status_msg;
    response.currently_active = content.currently_active;
    response.last_active_ago = content
        .last_active_ago
        .map(|ms| std::time::Duration::from_millis(ms.into()));
    Ok(response)
}
