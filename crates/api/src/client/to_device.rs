//! Send-to-device messaging.

use accord_service::{Error, Services};
use ruma::api::client::to_device::send_event_to_device::v3 as send_event_to_device;
use serde_json::{Value, json};

use crate::{ApiError, Result, Ruma};

/// # `PUT /_matrix/client/v3/sendToDevice/{eventType}/{txnId}`
pub async fn send_event_to_device_route(
    services: Services,
    request: Ruma<send_event_to_device::Request>,
) -> Result<Value> {
    let body = request.body;
    let messages = serde_json::to_value(&body.messages)
        .and_then(serde_json::from_value)
        .map_err(|err| ApiError::from(Error::bad_json(format!("Invalid messages: {err}"))))?;
    services.send_to_device(
        &request.auth,
        &body.event_type.to_string(),
        body.txn_id.as_str(),
        messages,
    )?;
    Ok(json!({}))
}
