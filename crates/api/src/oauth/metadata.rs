//! `GET /_matrix/client/v1/auth_metadata` (and MSC2965's unstable path, which clients use
//! while Accord announces versions before v1.15): the authorization server's endpoints and
//! what it supports (RFC 8414 as the spec profiles it).

use accord_service::Services;
use ruma::{
    api::{client::discovery::get_authorization_server_metadata::v1 as auth_metadata, error::ErrorKind},
    serde::Raw,
};
use serde_json::json;

use crate::{ApiError, Result, Ruma};

/// # `GET /_matrix/client/v1/auth_metadata`
pub async fn auth_metadata_route(
    services: Services,
    _: Ruma<auth_metadata::Request>,
) -> Result<auth_metadata::Response> {
    let oauth = &services.oauth;
    if !oauth.enabled() {
        return Err(ApiError::new(
            ErrorKind::Unrecognized,
            "The OAuth 2.0 API is not enabled on this server ([oauth] enabled)",
        ));
    }
    let metadata = json!({
        "issuer": oauth.issuer(),
        "authorization_endpoint": oauth.endpoint("authorize"),
        "token_endpoint": oauth.endpoint("token"),
        "registration_endpoint": oauth.endpoint("register"),
        "revocation_endpoint": oauth.endpoint("revoke"),
        "device_authorization_endpoint": oauth.endpoint("device"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "fragment"],
        "grant_types_supported": [
            "authorization_code",
            "refresh_token",
            "urn:ietf:params:oauth:grant-type:device_code",
        ],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none"],
        "revocation_endpoint_auth_methods_supported": ["none"],
        "account_management_uri": format!("{}{}", oauth.base_url(), super::account::ACCOUNT_PATH),
        "account_management_actions_supported": super::account::ACTIONS,
    });
    let raw = serde_json::value::to_raw_value(&metadata)
        .map_err(|err| ApiError::from(accord_service::Error::Internal(err.to_string())))?;
    Ok(auth_metadata::Response::new(Raw::from_json(raw)))
}
