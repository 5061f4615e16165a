//! Thread subscriptions (MSC4306):
//! `GET|PUT|DELETE /_matrix/client/unstable/io.element.msc4306/rooms/{roomId}/thread/{rootId}/subscription`;
//! the rules are `RoomService`'s.

use accord_service::Services;
use ruma::api::client::threads::{
    get_thread_subscription::unstable as get_subscription, subscribe_thread::unstable as subscribe,
    unsubscribe_thread::unstable as unsubscribe,
};

use crate::{Result, Ruma};

/// # `GET .../thread/{threadRootId}/subscription`
pub async fn get_thread_subscription_route(
    services: Services,
    request: Ruma<get_subscription::Request>,
) -> Result<get_subscription::Response> {
    let body = &request.body;
    let automatic = services
        .rooms
        .thread_subscription(&request.auth, &body.room_id, &body.thread_root)?;
    Ok(get_subscription::Response::new(automatic))
}

/// # `PUT .../thread/{threadRootId}/subscription`
pub async fn subscribe_thread_route(
    services: Services,
    request: Ruma<subscribe::Request>,
) -> Result<subscribe::Response> {
    let body = &request.body;
    services.rooms.subscribe_thread(
        &request.auth,
        &body.room_id,
        &body.thread_root,
        body.automatic.as_deref(),
    )?;
    Ok(subscribe::Response::new())
}

/// # `DELETE .../thread/{threadRootId}/subscription`
pub async fn unsubscribe_thread_route(
    services: Services,
    request: Ruma<unsubscribe::Request>,
) -> Result<unsubscribe::Response> {
    let body = &request.body;
    services
        .rooms
        .unsubscribe_thread(&request.auth, &body.room_id, &body.thread_root)?;
    Ok(unsubscribe::Response::new())
}
