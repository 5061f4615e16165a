//! The authenticated account: whoami, password change, deactivation, OpenID tokens.

use accord_service::{AuthedUser, Services, uiaa::UiaaRequirement};
use ruma::api::{
    client::account::{ThirdPartyIdRemovalStatus, change_password, deactivate, request_openid_token, whoami},
    error::ErrorKind,
};

use crate::{ApiError, Result, Ruma};

/// These endpoints' metadata makes the token optional (for flows without one); Accord only
/// supports the authenticated form.
fn require_user(auth: Option<AuthedUser>) -> Result<AuthedUser> {
    auth.ok_or_else(|| ApiError::new(ErrorKind::MissingToken, "This endpoint requires an access token"))
}

/// # `GET /_matrix/client/v3/account/whoami`
pub async fn whoami_route(_: Services, request: Ruma<whoami::v3::Request>) -> Result<whoami::v3::Response> {
    let auth = request.auth;
    // An application service acting without naming a device has none (Synapse leaves it out).
    let has_device = auth.has_device();
    let mut response = whoami::v3::Response::new(auth.user_id, false);
    response.device_id = has_device.then_some(auth.device_id);
    Ok(response)
}

/// # `POST /_matrix/client/v3/account/password`
pub async fn change_password_route(
    services: Services,
    request: Ruma<change_password::v3::Request>,
) -> Result<change_password::v3::Response> {
    let user = require_user(request.auth)?;
    // Before UIA, so a weak password is refused before the user types the old one.
    services.accounts.check_password_policy(&request.body.new_password)?;
    let requirement = UiaaRequirement::password("POST /account/password", &user.user_id);
    let completed = services
        .uiaa
        .authenticate(request.body.auth.as_ref(), &requirement)
        .await?;
    services
        .accounts
        .change_password(
            &user.user_id,
            &user.device_id,
            request.body.new_password,
            request.body.logout_devices,
            completed,
        )
        .await?;
    Ok(change_password::v3::Response::new())
}

/// # `POST /_matrix/client/v3/account/deactivate`
pub async fn deactivate_route(
    services: Services,
    request: Ruma<deactivate::v3::Request>,
) -> Result<deactivate::v3::Response> {
    let user = require_user(request.auth)?;
    let requirement = UiaaRequirement::password("POST /account/deactivate", &user.user_id);
    let completed = services
        .uiaa
        .authenticate(request.body.auth.as_ref(), &requirement)
        .await?;
    services.accounts.deactivate(&user.user_id, Some(completed))?;
    // `erase` (spec): the user's data goes too, as an admin's erasure does.
    if request.body.erase {
        services.erase_user(&user.user_id, &user.user_id).await?;
    }
    // No identity server bindings are ever made, so there is nothing to unbind.
    Ok(deactivate::v3::Response::new(ThirdPartyIdRemovalStatus::NoSupport))
}

/// # `POST /_matrix/client/v3/user/{userId}/openid/request_token`
pub async fn request_openid_token_route(
    services: Services,
    request: Ruma<request_openid_token::v3::Request>,
) -> Result<request_openid_token::v3::Response> {
    let token = services.request_openid_token(&request.auth, &request.body.user_id)?;
    Ok(request_openid_token::v3::Response::new(
        token,
        ruma::authentication::TokenType::Bearer,
        services.config.server_name.clone(),
        std::time::Duration::from_millis(accord_service::openid::OPENID_TOKEN_LIFETIME_MS),
    ))
}
