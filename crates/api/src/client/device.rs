//! Device management for the authenticated user.

use accord_service::{Services, devices::DeviceRecord, uiaa::UiaaRequirement};
use ruma::{
    MilliSecondsSinceUnixEpoch, OwnedDeviceId, UInt,
    api::client::device::{Device, delete_device, delete_devices, get_device, get_devices, update_device},
};

use crate::{Result, Ruma};

fn to_device(device_id: OwnedDeviceId, record: DeviceRecord) -> Device {
    let mut device = Device::new(device_id);
    device.display_name = record.display_name;
    device.last_seen_ip = record.last_seen_ip;
    device.last_seen_ts = record.last_seen_ts.and_then(UInt::new).map(MilliSecondsSinceUnixEpoch);
    device
}

/// # `GET /_matrix/client/v3/devices`
pub async fn get_devices_route(
    services: Services,
    request: Ruma<get_devices::v3::Request>,
) -> Result<get_devices::v3::Response> {
    let devices = services.devices.list(&request.auth.user_id)?;
    Ok(get_devices::v3::Response::new(
        devices.into_iter().map(|(id, record)| to_device(id, record)).collect(),
    ))
}

/// # `GET /_matrix/client/v3/devices/{deviceId}`
pub async fn get_device_route(
    services: Services,
    request: Ruma<get_device::v3::Request>,
) -> Result<get_device::v3::Response> {
    let device_id = request.body.device_id;
    let record = services.devices.get(&request.auth.user_id, &device_id)?;
    Ok(get_device::v3::Response::new(to_device(device_id, record)))
}

/// # `PUT /_matrix/client/v3/devices/{deviceId}`
pub async fn update_device_route(
    services: Services,
    request: Ruma<update_device::v3::Request>,
) -> Result<update_device::v3::Response> {
    services.devices.rename(
        &request.auth.user_id,
        &request.body.device_id,
        request.body.display_name,
    )?;
    Ok(update_device::v3::Response::new())
}

/// # `DELETE /_matrix/client/v3/devices/{deviceId}`
pub async fn delete_device_route(
    services: Services,
    request: Ruma<delete_device::v3::Request>,
) -> Result<delete_device::v3::Response> {
    let user = &request.auth;
    // An unknown device is 404 before any UIA, as the spec lists.
    services.devices.get(&user.user_id, &request.body.device_id)?;
    let requirement = UiaaRequirement::password("DELETE /devices", &user.user_id);
    let completed = services
        .uiaa
        .authenticate(request.body.auth.as_ref(), &requirement)
        .await?;
    services
        .devices
        .delete(&user.user_id, &[request.body.device_id], completed)?;
    Ok(delete_device::v3::Response::new())
}

/// # `POST /_matrix/client/v3/delete_devices`
pub async fn delete_devices_route(
    services: Services,
    request: Ruma<delete_devices::v3::Request>,
) -> Result<delete_devices::v3::Response> {
    let user = &request.auth;
    let requirement = UiaaRequirement::password("POST /delete_devices", &user.user_id);
    let completed = services
        .uiaa
        .authenticate(request.body.auth.as_ref(), &requirement)
        .await?;
    services
        .devices
        .delete(&user.user_id, &request.body.devices, completed)?;
    Ok(delete_devices::v3::Response::new())
}
