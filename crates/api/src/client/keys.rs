//! End-to-end encryption keys: upload, query and claim (local users, and remote users through
//! their servers), and cross-signing keys and signatures.

use accord_service::{Services, cross_signing::SigningKeysUpload, device_keys::KeyUpload, uiaa::UiaaRequirement};
use ruma::api::client::keys::{
    claim_keys::v3 as claim_keys, get_key_changes::v3 as get_key_changes, get_keys::v3 as get_keys,
    upload_keys::v3 as upload_keys, upload_signatures::v3 as upload_signatures,
    upload_signing_keys::v3 as upload_signing_keys,
};

use crate::{Result, Ruma};

/// # `POST /_matrix/client/v3/keys/upload`
pub async fn upload_keys_route(
    services: Services,
    request: Ruma<upload_keys::Request>,
) -> Result<upload_keys::Response> {
    let body = request.body;
    let upload = KeyUpload {
        device_keys: body.device_keys,
        one_time_keys: body.one_time_keys,
        fallback_keys: body.fallback_keys,
    };
    let counts = services.upload_keys(&request.auth, upload)?;
    Ok(upload_keys::Response::new(counts))
}

/// # `POST /_matrix/client/v3/keys/device_signing/upload`
pub async fn upload_signing_keys_route(
    services: Services,
    request: Ruma<upload_signing_keys::Request>,
) -> Result<upload_signing_keys::Response> {
    let user = &request.auth;
    let body = request.body;
    let upload = SigningKeysUpload {
        master: body.master_key,
        self_signing: body.self_signing_key,
        user_signing: body.user_signing_key,
    };
    let completed = if services.signing_keys_upload_needs_auth(&user.user_id, &upload)? {
        let requirement = UiaaRequirement::password("POST /keys/device_signing/upload", &user.user_id);
        Some(services.uiaa.authenticate(body.auth.as_ref(), &requirement).await?)
    } else {
        None
    };
    services.upload_signing_keys(user, upload, completed)?;
    Ok(upload_signing_keys::Response::new())
}

/// # `POST /_matrix/client/v3/keys/signatures/upload`
pub async fn upload_signatures_route(
    services: Services,
    request: Ruma<upload_signatures::Request>,
) -> Result<upload_signatures::Response> {
    let failures = services
        .upload_key_signatures(&request.auth, request.body.signed_keys)
        .await?;
    let mut response = upload_signatures::Response::new();
    response.failures = failures;
    Ok(response)
}

/// # `POST /_matrix/client/v3/keys/query`
pub async fn get_keys_route(services: Services, request: Ruma<get_keys::Request>) -> Result<get_keys::Response> {
    let body = request.body;
    Ok(services
        .query_keys_anywhere(&request.auth.user_id, &body.device_keys, body.timeout)
        .await?)
}

/// # `POST /_matrix/client/v3/keys/claim`
pub async fn claim_keys_route(services: Services, request: Ruma<claim_keys::Request>) -> Result<claim_keys::Response> {
    let body = request.body;
    Ok(services.claim_keys_anywhere(&body.one_time_keys, body.timeout).await?)
}

/// # `GET /_matrix/client/v3/keys/changes`
pub async fn get_key_changes_route(
    services: Services,
    request: Ruma<get_key_changes::Request>,
) -> Result<get_key_changes::Response> {
    let body = request.body;
    let from = accord_service::rooms::parse_token(&body.from)?;
    let to = accord_service::rooms::parse_token(&body.to)?;
    let (changed, left) = services.device_lists_for_sync(&request.auth.user_id, from, to)?;
    Ok(get_key_changes::Response::new(changed, left))
}
