//! Single events, context around an event, and redaction.

use accord_service::Services;
use ruma::api::client::{
    context::get_context::v3 as get_context, redact::redact_event::v3 as redact_event,
    room::get_room_event::v3 as get_room_event,
};

use crate::{
    Result, Ruma,
    client::message::event_filter,
    raw::{raw, raws},
};

/// # `GET /_matrix/client/v3/rooms/{roomId}/event/{eventId}`
pub async fn get_room_event_route(
    services: Services,
    request: Ruma<get_room_event::Request>,
) -> Result<get_room_event::Response> {
    let event = services
        .rooms
        .event(&request.auth, &request.body.room_id, &request.body.event_id)?;
    Ok(get_room_event::Response::new(raw(&event)?))
}

/// # `GET /_matrix/client/v3/rooms/{roomId}/context/{eventId}`
pub async fn get_context_route(
    services: Services,
    request: Ruma<get_context::Request>,
) -> Result<get_context::Response> {
    let body = request.body;
    let filter = event_filter(&body.filter)?;
    let limit = crate::count::count(body.limit);
    let page = services
        .rooms
        .context(&request.auth, &body.room_id, &body.event_id, limit, &filter)?;
    let mut response = get_context::Response::new();
    response.event = Some(raw(&page.event)?);
    response.events_before = raws(&page.events_before)?;
    response.events_after = raws(&page.events_after)?;
    response.start = Some(page.start);
    response.end = Some(page.end);
    response.state = raws(&page.state)?;
    Ok(response)
}

/// # `PUT /_matrix/client/v3/rooms/{roomId}/redact/{eventId}/{txnId}`
pub async fn redact_event_route(
    services: Services,
    request: Ruma<redact_event::Request>,
) -> Result<redact_event::Response> {
    let body = request.body;
    let event_id = services
        .rooms
        .redact(
            &request.auth,
            &body.room_id,
            &body.event_id,
            body.txn_id.as_str(),
            body.reason,
        )
        .await?;
    Ok(redact_event::Response::new(event_id))
}
