//! Device keys of local users for other servers: `/user/keys/query` (device display names only
//! with `federation.share_device_names`), `/user/keys/claim` and `/user/devices`.

use accord_service::{Services, cross_signing::CrossSigningAnswer};
use ruma::api::federation::{
    device::get_devices::v1 as get_devices,
    keys::{claim_keys::v1 as claim_keys, get_keys::v1 as get_keys},
};

use crate::{Result, Ruma};

/// # `POST /_matrix/federation/v1/user/keys/query`
pub async fn get_keys_route(services: Services, request: Ruma<get_keys::Request>) -> Result<get_keys::Response> {
    let wanted = &request.body.device_keys;
    let device_keys = services.local_device_keys(wanted, services.config.federation.share_device_names)?;
    let mut cross = CrossSigningAnswer::default();
    let local = wanted
        .keys()
        .filter(|user| user.server_name() == services.config.server_name);
    services.local_cross_signing_keys(None, local, &mut cross)?;
    let mut response = get_keys::Response::new(device_keys);
    response.master_keys = cross.master_keys;
    response.self_signing_keys = cross.self_signing_keys;
    Ok(response)
}

/// # `POST /_matrix/federation/v1/user/keys/claim`
pub async fn claim_keys_route(services: Services, request: Ruma<claim_keys::Request>) -> Result<claim_keys::Response> {
    Ok(claim_keys::Response::new(
        services.claim_local_keys(&request.body.one_time_keys)?,
    ))
}

/// # `GET /_matrix/federation/v1/user/devices/{userId}`
pub async fn get_devices_route(
    services: Services,
    request: Ruma<get_devices::Request>,
) -> Result<get_devices::Response> {
    Ok(services.local_user_devices(&request.body.user_id)?)
}
