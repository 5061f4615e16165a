//! Profiles: the whole profile, display name and avatar URL.

use accord_service::Services;
use ruma::{
    OwnedMxcUri,
    api::client::profile::{get_avatar_url, get_display_name, get_profile, set_avatar_url, set_display_name},
};
use serde_json::Value;

use crate::{ApiError, Result, Ruma};

/// # `GET /_matrix/client/v3/profile/{userId}`
pub async fn get_profile_route(
    services: Services,
    request: Ruma<get_profile::v3::Request>,
) -> Result<get_profile::v3::Response> {
    let profile = services.profile_anywhere(&request.body.user_id).await?;
    let mut response = get_profile::v3::Response::new();
    for (field, value) in profile {
        response.set(field, value);
    }
    Ok(response)
}

/// # `GET /_matrix/client/v3/profile/{userId}/displayname`
pub async fn get_display_name_route(
    services: Services,
    request: Ruma<get_display_name::v3::Request>,
) -> Result<get_display_name::v3::Response> {
    let profile = services.profile_anywhere(&request.body.user_id).await?;
    let name = profile
        .get("displayname")
        .and_then(Value::as_str)
        .map(ToOwned::to_owned);
    Ok(get_display_name::v3::Response::new(name))
}

/// # `PUT /_matrix/client/v3/profile/{userId}/displayname`
pub async fn set_display_name_route(
    services: Services,
    request: Ruma<set_display_name::v3::Request>,
) -> Result<set_display_name::v3::Response> {
    let value = request.body.displayname.map(Value::String);
    services
        .profiles
        .set_field(&request.auth.user_id, &request.body.user_id, "displayname", value)?;
    services.rooms.announce_profile(&request.body.user_id).await?;
    Ok(set_display_name::v3::Response::new())
}

/// # `GET /_matrix/client/v3/profile/{userId}/avatar_url`
pub async fn get_avatar_url_route(
    services: Services,
    request: Ruma<get_avatar_url::v3::Request>,
) -> Result<get_avatar_url::v3::Response> {
    let profile = services.profile_anywhere(&request.body.user_id).await?;
    let url = profile.get("avatar_url").and_then(Value::as_str).map(OwnedMxcUri::from);
    Ok(get_avatar_url::v3::Response::new(url))
}

/// Longest avatar URL a profile takes.
const MAX_AVATAR_URL_BYTES: usize = 1000;

/// # `PUT /_matrix/client/v3/profile/{userId}/avatar_url`
pub async fn set_avatar_url_route(
    services: Services,
    request: Ruma<set_avatar_url::v3::Request>,
) -> Result<set_avatar_url::v3::Response> {
    let body = request.body;
    // Any string up to 1000 bytes, as Synapse takes it: the spec describes the value as an
    // mxc URI but asks no check of it, and clients (and Complement's TestAvatarUrlUpdate) set
    // other values; readers validate what they fetch.
    if let Some(url) = &body.avatar_url
        && url.as_str().len() > MAX_AVATAR_URL_BYTES
    {
        return Err(ApiError::new(
            ruma::api::error::ErrorKind::InvalidParam,
            format!("avatar_url is longer than {MAX_AVATAR_URL_BYTES} bytes"),
        ));
    }
    let value = body.avatar_url.map(|url| Value::String(url.to_string()));
    services
        .profiles
        .set_field(&request.auth.user_id, &body.user_id, "avatar_url", value)?;
    services.rooms.announce_profile(&body.user_id).await?;
    Ok(set_avatar_url::v3::Response::new())
}
