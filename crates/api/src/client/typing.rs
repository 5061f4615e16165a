//! Typing notifications.

use accord_service::Services;
use ruma::api::client::typing::create_typing_event::v3::{self as create_typing_event, Typing};

use crate::{Result, Ruma};

/// # `PUT /_matrix/client/v3/rooms/{roomId}/typing/{userId}`
pub async fn create_typing_event_route(
    services: Services,
    request: Ruma<create_typing_event::Request>,
) -> Result<create_typing_event::Response> {
    let body = request.body;
    let timeout = match body.state {
        Typing::Yes(info) => Some(info.timeout),
        _ => None,
    };
    services.set_typing(&request.auth, &body.room_id, &body.user_id, timeout)?;
    Ok(create_typing_event::Response::new())
}
