//! Thread subscriptions (MSC4306):
//! `GET|PUT|DELETE /_matrix/client/unstable/io.element.msc4306/rooms/{roomId}/thread/{rootId}/subscription`;
//! the rules are `RoomService`'s. And the list of changes of MSC4308,
//! `GET /_matrix/client/unstable/io.element.msc4308/thread_subscriptions`.

use accord_service::Services;
use ruma::api::client::threads::{
    get_thread_subscription::unstable as get_subscription, get_thread_subscriptions_changes::unstable as changes,
    subscribe_thread::unstable as subscribe, unsubscribe_thread::unstable as unsubscribe,
};

use crate::{ApiError, Result, Ruma};

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

/// Most changes in one page of the list (as Synapse).
const MAX_CHANGES_PAGE: u64 = 512;

/// # `GET /_matrix/client/unstable/io.element.msc4308/thread_subscriptions`
///
/// The user's thread subscription changes newest first, from `from` (inclusive; default now)
/// back to `to` (exclusive), where sliding sync's extension left off (its `prev_batch`).
pub async fn get_thread_subscriptions_changes_route(
    services: Services,
    request: Ruma<changes::Request>,
) -> Result<changes::Response> {
    let invalid = |message: &str| ApiError::from(accord_service::Error::invalid_param(message.to_owned()));
    // ruma keeps `dir` private; the MSC serves only `b`.
    if request
        .query
        .as_deref()
        .is_some_and(|query| query.split('&').any(|pair| pair == "dir=f"))
    {
        return Err(invalid("only dir=b is supported"));
    }
    let body = &request.body;
    let limit = body.limit.map_or(100, u64::from);
    if limit == 0 {
        return Err(invalid("limit must be above 0"));
    }
    let token = |value: &Option<String>, name: &str| -> Result<Option<u64>> {
        value
            .as_deref()
            .map(|text| {
                text.parse::<u64>()
                    .map_err(|_| invalid(&format!("{name} is not a token this server gave")))
            })
            .transpose()
    };
    let from = token(&body.from, "from")?.unwrap_or_else(|| services.db().visible_count());
    let to = token(&body.to, "to")?;
    let limit = usize::try_from(limit.min(MAX_CHANGES_PAGE)).unwrap_or(100);
    let changes = services.thread_subscription_changes(&request.auth.user_id, to, from, limit)?;
    let mut response = changes::Response::new();
    response.subscribed = changes.subscribed;
    response.unsubscribed = changes.unsubscribed;
    response.end = changes.older.map(|older| older.to_string());
    Ok(response)
}
