//! Account registration: username availability, `/register` with UIA, token validity.

use accord_service::{
    AuthedUser, Services,
    accounts::{self, NewAccount, Registered},
    rate_limits::{self, RateClass},
    uiaa::UiaaRequirement,
};
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
    let user_id = services.accounts.check_username_available(&request.body.username)?;
    services.check_user_not_exclusive(&user_id, None)?;
    Ok(get_username_availability::v3::Response::new(true))
}

/// # `POST /_matrix/client/v3/register`
pub async fn register_route(
    services: Services,
    request: Ruma<register::v3::Request>,
) -> Result<register::v3::Response> {
    let mut body = request.body;
    if body.login_type == Some(register::LoginType::ApplicationService) {
        return register_for_appservice(&services, request.auth, body).await;
    }
    // Checked first and counted only when an account is made, so the UIA round trips of one
    // registration count once (as Synapse counts).
    let address = rate_limits::address_key(request.client_ip);
    services.rate_limits.peek(RateClass::Registration, &address)?;
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
    // Check the name before UIA, so the user learns it is taken (or a bridge's) before
    // completing any stage.
    if let Some(username) = &body.username {
        let user_id = services.accounts.check_username_available(username)?;
        services.check_user_not_exclusive(&user_id, None)?;
    }
    if let Some(password) = &body.password {
        services.accounts.check_password_policy(password)?;
    }
    let requirement = UiaaRequirement {
        flows,
        operation: "POST /register",
        user: None,
    };
    let completed = services.uiaa.authenticate(body.auth.as_ref(), &requirement).await?;
    let first_admin = match completed.registration_token() {
        Some(token) => services.is_first_admin_token(token)?,
        None => false,
    };
    if services.config.registration.mode == accord_core::config::RegistrationMode::Closed && !first_admin {
        // Only the first-admin token opens a closed server.
        return Err(ApiError::new(
            ErrorKind::Forbidden,
            "Registration is disabled on this server; ask an administrator to create an account",
        ));
    }
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
                admin: first_admin,
                ..NewAccount::default()
            },
            Some(completed),
        )
        .await?;
    if first_admin {
        tracing::warn!(user = %registered.user_id, "the first administrator registered with the first-admin token");
        services.first_admin_registered()?;
    }
    services.rate_limits.record(RateClass::Registration, &address);
    Ok(registered_response(registered))
}

fn registered_response(registered: Registered) -> register::v3::Response {
    let mut response = register::v3::Response::new(registered.user_id);
    if let Some((device_id, tokens)) = registered.login {
        response.device_id = Some(device_id);
        response.access_token = Some(tokens.access_token);
        response.refresh_token = tokens.refresh_token;
        response.expires_in = tokens.expires_in;
    }
    response
}

/// `"type": "m.login.application_service"` (spec: "Server admin style permissions"): a
/// service registers a user of its namespace with its `as_token`, whatever the registration
/// mode and without UIA. Synapse's errcodes: no service token 401, a name outside the
/// namespace (or another service's) 400 `M_EXCLUSIVE`.
async fn register_for_appservice(
    services: &Services,
    caller: Option<AuthedUser>,
    body: register::v3::Request,
) -> Result<register::v3::Response> {
    let Some(appservice) = caller.and_then(|caller| caller.appservice) else {
        return Err(ApiError::new(
            ErrorKind::MissingToken,
            "m.login.application_service registration needs an application service's as_token",
        ));
    };
    let username = body
        .username
        .ok_or_else(|| ApiError::new(ErrorKind::MissingParam, "`username` is required"))?;
    let user_id = accounts::validate_new_localpart(&username, &services.config.server_name)?;
    let registry = services.appservices.registry.snapshot();
    let in_namespace = registry
        .by_id(&appservice.id)
        .is_some_and(|registration| registration.may_act_as(&user_id));
    if !in_namespace {
        return Err(ApiError::new(
            ErrorKind::Exclusive,
            format!(
                "{user_id} is outside the user namespace of application service {}",
                appservice.id
            ),
        ));
    }
    services.check_user_not_exclusive(&user_id, Some(&appservice.id))?;
    let registered = services
        .accounts
        .create(
            NewAccount {
                username: Some(username),
                device_id: body.device_id,
                initial_device_display_name: body.initial_device_display_name,
                inhibit_login: body.inhibit_login,
                refresh_token: body.refresh_token,
                ..NewAccount::default()
            },
            None,
        )
        .await?;
    Ok(registered_response(registered))
}

/// # `GET /_matrix/client/v1/register/m.login.registration_token/validity`
pub async fn check_registration_token_validity_route(
    services: Services,
    request: Ruma<check_registration_token_validity::v1::Request>,
) -> Result<check_registration_token_validity::v1::Response> {
    services
        .rate_limits
        .check_address(RateClass::RegistrationTokenValidity, request.client_ip)?;
    let valid = services.registration_tokens.check_validity(&request.body.token)?;
    Ok(check_registration_token_validity::v1::Response::new(valid))
}
