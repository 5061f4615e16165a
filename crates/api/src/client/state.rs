//! Room state: set a state event, read all state or one entry.

use accord_service::{Error, Services};
use ruma::api::client::state::{
    get_state_event_for_key::v3::{self as get_state_event_for_key, StateEventFormat},
    get_state_events::v3 as get_state_events,
    send_state_event::v3 as send_state_event,
};
use ruma::events::{AnyStateEvent, AnyStateEventContent};
use serde_json::Value;

use crate::{
    ApiError, Result, Ruma,
    client::delayed_events::{Sent, delay_param},
    raw::{raw, raws},
};
use accord_service::delayed_events::DelayedEvent;

/// # `PUT /_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}`
pub async fn send_state_event_route(
    services: Services,
    request: Ruma<send_state_event::Request>,
) -> Result<Sent<send_state_event::Response>> {
    let delay = delay_param(request.query.as_deref())?;
    let origin_server_ts = crate::client::appservice::massaged_timestamp(&request.auth, request.body.timestamp);
    let body = request.body;
    let content: Value =
        serde_json::from_str(body.body.json().get()).map_err(|e| ApiError::from(Error::bad_json(e.to_string())))?;
    if let Some(delay_ms) = delay {
        let event = DelayedEvent {
            room_id: body.room_id,
            kind: body.event_type.to_string(),
            state_key: Some(body.state_key),
            content,
            delay_ms,
            txn: None,
        };
        return Ok(Sent::Delayed(services.schedule_delayed_event(&request.auth, event)?));
    }
    let event_id = services
        .rooms
        .send_state_at(
            &request.auth,
            &body.room_id,
            &body.event_type.to_string(),
            &body.state_key,
            content,
            origin_server_ts,
        )
        .await?;
    Ok(Sent::Now(send_state_event::Response::new(event_id)))
}

/// # `GET /_matrix/client/v3/rooms/{roomId}/state`
pub async fn get_state_events_route(
    services: Services,
    request: Ruma<get_state_events::Request>,
) -> Result<get_state_events::Response> {
    let events = services.rooms.state(&request.auth, &request.body.room_id)?;
    Ok(get_state_events::Response::new(raws(&events)?))
}

/// # `GET /_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}`
pub async fn get_state_event_for_key_route(
    services: Services,
    request: Ruma<get_state_event_for_key::Request>,
) -> Result<get_state_event_for_key::Response> {
    let body = request.body;
    let event = services.rooms.state_event(
        &request.auth,
        &body.room_id,
        &body.event_type.to_string(),
        &body.state_key,
    )?;
    Ok(match body.format {
        StateEventFormat::Event => get_state_event_for_key::Response::from(raw::<AnyStateEvent>(&event)?),
        _ => get_state_event_for_key::Response::from(raw::<AnyStateEventContent>(&event["content"])?),
    })
}
