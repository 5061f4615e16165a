//! Device keys of local users for other servers: `/user/keys/query` (no device display names)
//! and `/user/keys/claim`.

use accord_service::{Services, remote_keys::claims_from};
use ruma::api::federation::keys::{claim_keys::v1 as claim_keys, get_keys::v1 as get_keys};
use serde_json::{Value, json};

use crate::{Result, Ruma};

/// # `POST /_matrix/federation/v1/user/keys/query`
pub async fn get_keys_route(services: Services, request: Ruma<get_keys::Request>) -> Result<Value> {
    let device_keys = services.local_device_keys(&request.body.device_keys, false)?;
    Ok(json!({ "device_keys": device_keys }))
}

/// # `POST /_matrix/federation/v1/user/keys/claim`
pub async fn claim_keys_route(services: Services, request: Ruma<claim_keys::Request>) -> Result<Value> {
    let wanted = claims_from(request.body.one_time_keys);
    Ok(json!({ "one_time_keys": services.claim_local_keys(&wanted)? }))
}
