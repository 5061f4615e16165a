//! Server discovery: supported spec versions and capabilities.

use std::collections::BTreeMap;

use accord_service::Services;
use ruma::api::client::discovery::{
    get_capabilities::v3::{self as get_capabilities, Capabilities, RoomVersionStability, RoomVersionsCapability},
    get_supported_versions,
};

use crate::{ApiError, Result, Ruma};

/// Spec versions whose semantics Accord follows for every endpoint it serves.
///
/// v1.11 is authenticated media (`/_matrix/client/v1/media/*`, served since issue 13), the
/// first cross-signing upload without UIA and `unsigned.membership`. `preview_url` answers
/// `M_UNRECOGNIZED` while URL previews are off, as on Synapse. Stops before v1.12 until its
/// changes (MSC3882's login tokens, MSC4170's profile lookups among them) are checked one by
/// one. Raise this as sections land.
pub const SUPPORTED_VERSIONS: &[&str] = &[
    "r0.6.1", "v1.1", "v1.2", "v1.3", "v1.4", "v1.5", "v1.6", "v1.7", "v1.8", "v1.9", "v1.10", "v1.11",
];

/// # `GET /_matrix/client/versions`
pub async fn get_supported_versions_route(
    _: Services,
    _: Ruma<get_supported_versions::Request>,
) -> Result<get_supported_versions::Response> {
    let mut response =
        get_supported_versions::Response::new(SUPPORTED_VERSIONS.iter().map(|v| (*v).to_owned()).collect());
    // Element offers device dehydration only when the server announces MSC3814.
    // Account data deletion (MSC3391), as Synapse announces it.
    // Invite filtering by user and server lists (MSC4155): clients show its settings only then.
    response.unstable_features = BTreeMap::from([
        ("org.matrix.msc3814".to_owned(), true),
        ("org.matrix.msc3391".to_owned(), true),
        ("org.matrix.msc4155".to_owned(), true),
        ("org.matrix.msc4140".to_owned(), true),
        ("org.matrix.msc4306".to_owned(), true),
        // Simplified sliding sync (MSC4186): matrix-rust-sdk, and so Element X, uses sliding
        // sync only where this is announced.
        ("org.matrix.simplified_msc3575".to_owned(), true),
    ]);
    Ok(response)
}

/// # `GET /_matrix/client/v3/capabilities`
pub async fn get_capabilities_route(
    services: Services,
    request: Ruma<get_capabilities::Request>,
) -> Result<get_capabilities::Response> {
    let available = accord_service::rooms::SUPPORTED_ROOM_VERSIONS
        .iter()
        .map(|v| (v.clone(), RoomVersionStability::Stable))
        .collect();
    let mut capabilities = Capabilities::new();
    capabilities.room_versions =
        RoomVersionsCapability::new(services.config.rooms.default_room_version.clone(), available);
    capabilities.change_password.enabled = true;
    capabilities.thirdparty_id_changes.enabled = false;
    // Only admins may lock and suspend (spec v1.18); others see the capability left out.
    if services.accounts.is_admin(&request.auth.user_id)? {
        capabilities.account_moderation.lock = true;
        capabilities.account_moderation.suspend = true;
    }
    Ok(get_capabilities::Response::new(capabilities))
}

/// Writes the capabilities with `m.change_password` always listed. ruma leaves a capability
/// out when it has its default value (change_password is enabled by default), which the spec
/// allows; but Synapse lists it and Complement's TestServerCapabilities requires it.
pub(crate) fn render_capabilities(response: get_capabilities::Response) -> axum::response::Response {
    use axum::response::IntoResponse;
    let enabled = response.capabilities.change_password.enabled;
    match serde_json::to_value(&response.capabilities) {
        Ok(mut capabilities) => {
            if let Some(map) = capabilities.as_object_mut() {
                map.entry("m.change_password")
                    .or_insert_with(|| serde_json::json!({ "enabled": enabled }));
            }
            axum::Json(serde_json::json!({ "capabilities": capabilities })).into_response()
        }
        Err(err) => ApiError::from(accord_service::Error::Internal(format!(
            "capabilities failed to serialize: {err}"
        )))
        .into_response(),
    }
}
