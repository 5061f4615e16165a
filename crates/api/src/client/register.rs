//! Account registration: username availability, `/register` with UIA, token validity.

use accord_service::{Services, accounts::NewAccount, uiaa::UiaaRequirement};
use ruma::api::{
    client::account::{
        check_registration_token_validity, get_username_availability,
        register::{self, RegistrationKind},
    },
    error::ErrorKind,
};

use crate::{ApiError, Result, Ruma};

/// # `GET /_matrix/client/v3/register/available`
///
/// Like Synapse, answers 403 when registration is closed: clients then hide their sign-up form.
pub async fn get_username_availability_route(
    services: Services,
    request: Ruma<get_username_availability::v3::Request>,
) -> Result<get_username_availability::v3::Response> {
    services.accounts.registration_flows()?;
    services.accounts.check_username_available(&request.body.username)?;
    Ok(get_username_availability::v3::Response::new(true))
}

/// # `POST /_matrix/client/v3/register`
pub async fn register_route(
    services: Services,
    request: Ruma<register::v3::Request>,
) -> Result<register::v3::Response> {
    let mut body = request.body;
    // Synapse lower-cases the requested name and clients (and Complement's TestRegistration)
    // rely on it; the spec only says user ids are lower case.
    body.username = body.username.map(|name| name.to_lowercase());
    if body.kind == RegistrationKind::Guest {
        return Err(ApiError::new(
            ErrorKind::GuestAccessForbidden,
            "Guest access is not enabled on this server",
        ));
    }
    let flows = services.accounts.registration_flows()?;
    // Check the name before UIA, so the user learns it is taken before completing any stage.
    if let Some(username) = &body.username {
        services.accounts.check_username_available(username)?;
    }
    let requirement = UiaaRequirement {
        flows,
        operation: "POST /register",
        user: None,
    };
    let completed = services.uiaa.authenticate(body.auth.as_ref(), &requirement).await?;
    let registered = services
        .accounts
        .create(
            NewAccount {
                username: body.username,
                password: body.password,
                device_id: body.device_id,
                initial_device_display_name: body.initial_device_display_name,
                inhibit_login: body.inhibit_login,
                refresh_token: body.refresh_token,
                ..NewAccount::default()
            },
            Some(completed),
        )
        .await?;

    let mut response = register::v3::Response::new(registered.user_id);
    if let Some((device_id, tokens)) = registered.login {
        response.device_id = Some(device_id);
        response.access_token = Some(tokens.access_token);
        response.refresh_token = tokens.refresh_token;
        response.expires_in = tokens.expires_in;
    }
    Ok(response)
}

/// # `GET /_matrix/client/v1/register/m.login.registration_token/validity`
pub async fn check_registration_token_validity_route(
    services: Services,
    request: Ruma<check_registration_token_validity::v1::Request>,
) -> Result<check_registration_token_validity::v1::Response> {
    let valid = services.accounts.registration_token_valid(&request.body.token)?;
    Ok(check_registration_token_validity::v1::Response::new(valid))
}
