//! Dehydrated devices (MSC3814, unstable prefix `org.matrix.msc3814.v1`).

use accord_service::{Services, dehydrated_device::DehydratedDeviceUpload, device_keys::KeyUpload};
use ruma::api::client::dehydrated_device::{
    delete_dehydrated_device::unstable as delete_device, get_dehydrated_device::unstable as get_device,
    get_events::unstable as get_events, put_dehydrated_device::unstable as put_device,
};

use crate::{Result, Ruma};

/// # `PUT /_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device`
pub async fn put_device_route(services: Services, request: Ruma<put_device::Request>) -> Result<put_device::Response> {
    let body = request.body;
    let upload = DehydratedDeviceUpload {
        device_id: body.device_id,
        display_name: body.initial_device_display_name,
        device_data: body.device_data,
        keys: KeyUpload {
            device_keys: Some(body.device_keys),
            one_time_keys: body.one_time_keys,
            fallback_keys: body.fallback_keys,
        },
    };
    let device_id = services.put_dehydrated_device(&request.auth.user_id, upload)?;
    Ok(put_device::Response::new(device_id))
}

/// # `GET /_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device`
pub async fn get_device_route(services: Services, request: Ruma<get_device::Request>) -> Result<get_device::Response> {
    Ok(services.get_dehydrated_device(&request.auth.user_id)?)
}

/// # `DELETE /_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device`
pub async fn delete_device_route(
    services: Services,
    request: Ruma<delete_device::Request>,
) -> Result<delete_device::Response> {
    let device_id = services.delete_dehydrated_device(&request.auth.user_id)?;
    Ok(delete_device::Response::new(device_id))
}

/// # `POST /_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device/{deviceId}/events`
pub async fn get_events_route(services: Services, request: Ruma<get_events::Request>) -> Result<get_events::Response> {
    let body = &request.body;
    Ok(services.dehydrated_device_events(&request.auth.user_id, &body.device_id, body.next_batch.as_deref())?)
}
