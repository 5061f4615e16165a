//! Send-to-device messaging.

use crate::{Result, Ruma};
use accord_service::{Services, rate_limits::RateClass};
use ruma::api::client::to_device::send_event_to_device::v3 as send_event_to_device;

/// # `PUT /_matrix/client/v3/sendToDevice/{eventType}/{txnId}`
pub async fn send_event_to_device_route(
    services: Services,
    request: Ruma<send_event_to_device::Request>,
) -> Result<send_event_to_device::Response> {
    let body = request.body;
    if body.event_type.to_string() == "m.room_key_request" {
        // Key requests fan out to every device of other users; counted per sending device.
        let key = format!("{} {}", request.auth.user_id, request.auth.device_id);
        services
            .rate_limits
            .check_for(RateClass::KeyRequests, &request.auth, &key, 1)?;
    }
    services.send_to_device(&request.auth, &body.event_type, body.txn_id.as_str(), body.messages)?;
    Ok(send_event_to_device::Response::new())
}
