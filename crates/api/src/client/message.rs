//! Sending message events and paginating history.

use accord_service::{
    Error, Services,
    rooms::{EventFilter, Pagination},
};
use ruma::api::{
    Direction,
    client::message::{get_message_events::v3 as get_message_events, send_message_event::v3 as send_message_event},
};
use serde_json::Value;

use crate::{
    ApiError, Result, Ruma,
    client::delayed_events::{Sent, delay_param},
    raw::raws,
};
use accord_service::delayed_events::DelayedEvent;

/// # `PUT /_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}`
pub async fn send_message_event_route(
    services: Services,
    request: Ruma<send_message_event::Request>,
) -> Result<Sent<send_message_event::Response>> {
    let delay = delay_param(request.query.as_deref())?;
    let origin_server_ts = crate::client::appservice::massaged_timestamp(&request.auth, request.body.timestamp);
    let body = request.body;
    let content: Value =
        serde_json::from_str(body.body.json().get()).map_err(|e| ApiError::from(Error::bad_json(e.to_string())))?;
    if let Some(delay_ms) = delay {
        let event = DelayedEvent {
            room_id: body.room_id,
            kind: body.event_type.to_string(),
            state_key: None,
            content,
            delay_ms,
            txn: Some(body.txn_id.to_string()),
        };
        return Ok(Sent::Delayed(services.schedule_delayed_event(&request.auth, event)?));
    }
    let event_id = services
        .rooms
        .send_message_at(
            &request.auth,
            &body.room_id,
            &body.event_type.to_string(),
            body.txn_id.as_str(),
            content,
            origin_server_ts,
        )
        .await?;
    Ok(Sent::Now(send_message_event::Response::new(event_id)))
}

/// Converts ruma's parsed filter into the fields the service honours.
pub(crate) fn event_filter<T: serde::Serialize>(filter: &T) -> Result<EventFilter> {
    let value = serde_json::to_value(filter).map_err(|e| ApiError::from(Error::Internal(e.to_string())))?;
    serde_json::from_value(value).map_err(|e| ApiError::from(Error::bad_json(format!("Invalid filter: {e}"))))
}

/// The `filter` parameter as sent: ruma's `RoomEventFilter` drops fields it doesn't know, and
/// the relation type filters of MSC3874 are still unstable ones.
fn raw_filter(query: Option<&str>) -> Result<Option<EventFilter>> {
    let params: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or_default())
        .map_err(|e| ApiError::from(Error::invalid_param(format!("Invalid query string: {e}"))))?;
    let Some((_, json)) = params.into_iter().find(|(key, _)| key == "filter") else {
        return Ok(None);
    };
    serde_json::from_str(&json)
        .map(Some)
        .map_err(|e| ApiError::from(Error::bad_json(format!("Invalid filter: {e}"))))
}

/// # `GET /_matrix/client/v3/rooms/{roomId}/messages`
pub async fn get_message_events_route(
    services: Services,
    request: Ruma<get_message_events::Request>,
) -> Result<get_message_events::Response> {
    let body = request.body;
    let filter = match raw_filter(request.query.as_deref())? {
        Some(filter) => filter,
        None => event_filter(&body.filter)?,
    };
    let limit = crate::count::count(body.limit);
    let pagination = Pagination {
        from: body.from.as_deref(),
        to: body.to.as_deref(),
        backward: body.dir == Direction::Backward,
        limit,
    };
    let page = services
        .messages_anywhere(&request.auth, &body.room_id, pagination, &filter)
        .await?;
    let mut response = get_message_events::Response::new();
    response.start = page.start;
    response.end = page.end;
    response.chunk = raws(&page.chunk)?;
    response.state = raws(&page.state)?;
    Ok(response)
}
