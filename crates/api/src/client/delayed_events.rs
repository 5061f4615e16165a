//! Delayed events (MSC4140, unstable names as Synapse serves them): the
//! `org.matrix.msc4140.delay` parameter of the send and state endpoints, the list of one's
//! waiting events, and cancel/restart/send by delay id (no login needed).

use accord_service::{Error, Services, delayed_events::DelayedAction, rate_limits::RateClass};
use axum::response::{IntoResponse, Response};
use ruma::{
    MilliSecondsSinceUnixEpoch, UInt,
    api::{
        OutgoingResponse,
        client::delayed_events::{
            DelayedEventData,
            get_all_delayed_events::unstable as get_all,
            update_delayed_event::{UpdateAction, unstable_v2 as update},
        },
    },
};
use serde_json::Value;

use crate::{ApiError, Result, Ruma, raw::raw, router::into_http};

/// The query parameter that makes a send or state request a delayed one.
const DELAY_PARAM: &str = "org.matrix.msc4140.delay";

/// A send answered now, or scheduled for later.
pub enum Sent<T> {
    /// Sent: the event id.
    Now(T),
    /// Scheduled: the delay id.
    Delayed(String),
}

/// The `org.matrix.msc4140.delay` parameter, in ms, when given.
pub(crate) fn delay_param(query: Option<&str>) -> Result<Option<u64>> {
    let params: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or_default())
        .map_err(|e| ApiError::from(Error::invalid_param(format!("Invalid query string: {e}"))))?;
    params
        .into_iter()
        .find(|(key, _)| key == DELAY_PARAM)
        .map(|(_, value)| {
            value
                .parse::<u64>()
                .map_err(|_| ApiError::from(Error::invalid_param(format!("{DELAY_PARAM} must be a number of ms"))))
        })
        .transpose()
}

/// Renders a [`Sent`]: the endpoint's own response, or `{"delay_id": ...}`.
pub(crate) fn render<T: OutgoingResponse>(sent: Sent<T>) -> Response {
    match sent {
        Sent::Now(response) => into_http(response),
        Sent::Delayed(delay_id) => axum::Json(serde_json::json!({ "delay_id": delay_id })).into_response(),
    }
}

/// # `GET /_matrix/client/unstable/org.matrix.msc4140/delayed_events`
pub async fn get_delayed_events_route(
    services: Services,
    request: Ruma<get_all::Request>,
) -> Result<get_all::Response> {
    services
        .rate_limits
        .check_user(RateClass::DelayedEventMgmt, &request.auth)?;
    let mut events = Vec::new();
    for record in services.delayed_events_of(&request.auth)? {
        let content: Value = record.content;
        events.push(DelayedEventData::new(
            record.delay_id,
            record.room_id,
            record.kind.as_str().into(),
            record.state_key,
            raw(&content)?,
            std::time::Duration::from_millis(record.delay_ms),
            MilliSecondsSinceUnixEpoch(UInt::new_saturating(record.running_since)),
        ));
    }
    Ok(get_all::Response::new(events))
}

/// # `POST /_matrix/client/unstable/org.matrix.msc4140/delayed_events/{delayId}/{action}`
pub async fn update_delayed_event_route(
    services: Services,
    request: Ruma<update::Request>,
) -> Result<update::Response> {
    let action = match request.body.action {
        UpdateAction::Cancel => DelayedAction::Cancel,
        UpdateAction::Restart => DelayedAction::Restart,
        UpdateAction::Send => DelayedAction::Send,
        _ => return Err(ApiError::from(Error::not_found("Unknown delayed event action"))),
    };
    // The delay id is the credential here (no access token): limited by address, as Synapse.
    services
        .rate_limits
        .check_address(RateClass::DelayedEventMgmt, request.client_ip)?;
    services.update_delayed_event(&request.body.delay_id, action).await?;
    Ok(update::Response::new())
}
