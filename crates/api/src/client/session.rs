//! Login, token refresh and logout.

use accord_service::{AuthedUser, Services, accounts::user_id_from_identifier, rate_limits::RateClass};
use ruma::api::{
    client::session::{
        get_login_types::v3::{
            self as get_login_types, ApplicationServiceLoginType, IdentityProvider, LoginType, PasswordLoginType,
            SsoLoginType, TokenLoginType,
        },
        login::v3::{self as login, ApplicationService, LoginInfo},
        logout, logout_all, refresh_token,
    },
    error::ErrorKind,
};

use crate::{ApiError, Result, Ruma};

/// # `GET /_matrix/client/v3/login`
///
/// With identity providers configured, `m.login.sso` lists them and `m.login.token` (what an
/// SSO login ends in) is offered too.
pub async fn get_login_types_route(
    services: Services,
    _: Ruma<get_login_types::Request>,
) -> Result<get_login_types::Response> {
    let mut types = vec![
        LoginType::Password(PasswordLoginType::new()),
        LoginType::ApplicationService(ApplicationServiceLoginType::new()),
    ];
    let providers = services.sso.providers();
    if !providers.is_empty() {
        let mut sso = SsoLoginType::new();
        sso.identity_providers = providers
            .into_iter()
            .map(|(id, name)| IdentityProvider::new(id, name))
            .collect();
        types.push(LoginType::Sso(sso));
        types.push(LoginType::Token(TokenLoginType::new()));
    }
    Ok(get_login_types::Response::new(types))
}

/// # `POST /_matrix/client/v3/login`
pub async fn login_route(services: Services, request: Ruma<login::Request>) -> Result<login::Response> {
    let body = request.body;
    // Every attempt counts against the address, before anything is checked (Synapse's order);
    // an application service that is exempt from limits logs its users in freely.
    if request.auth.as_ref().is_none_or(AuthedUser::rate_limited) {
        services
            .rate_limits
            .check_address(RateClass::LoginAddress, request.client_ip)?;
    }
    if let LoginInfo::ApplicationService(login) = &body.login_info {
        return login_for_appservice(
            &services,
            request.auth,
            login,
            body.device_id,
            body.initial_device_display_name,
            body.refresh_token,
        );
    }
    if let LoginInfo::Token(login) = &body.login_info {
        let user_id = services.user_of_login_token(&login.token)?;
        let (device_id, tokens) = services.accounts.login_verified(
            &user_id,
            body.device_id,
            body.initial_device_display_name,
            body.refresh_token,
        )?;
        let mut response = login::Response::new(user_id, tokens.access_token, device_id);
        response.refresh_token = tokens.refresh_token;
        response.expires_in = tokens.expires_in;
        return Ok(response);
    }
    let LoginInfo::Password(password) = body.login_info else {
        return Err(ApiError::new(
            ErrorKind::Unknown,
            "Unsupported login type; GET /login lists the ones this server offers",
        ));
    };
    let identifier = password
        .identifier
        .ok_or_else(|| ApiError::new(ErrorKind::MissingParam, "`identifier` is required for m.login.password"))?;
    let (user_id, device_id, tokens) = services
        .accounts
        .login_with_password(
            &identifier,
            &password.password,
            request.client_ip,
            body.device_id,
            body.initial_device_display_name,
            body.refresh_token,
        )
        .await?;
    let mut response = login::Response::new(user_id, tokens.access_token, device_id);
    response.refresh_token = tokens.refresh_token;
    response.expires_in = tokens.expires_in;
    Ok(response)
}

/// `m.login.application_service`: a service logs in a user of its namespace (a device with
/// its own token, for a bridge that encrypts). Synapse's errcodes: not a service token 401
/// `M_UNKNOWN_TOKEN`, a user outside the namespace 403 `M_FORBIDDEN`.
fn login_for_appservice(
    services: &Services,
    caller: Option<AuthedUser>,
    login: &ApplicationService,
    device_id: Option<ruma::OwnedDeviceId>,
    initial_device_display_name: Option<String>,
    refresh_token: bool,
) -> Result<login::Response> {
    let Some(appservice) = caller.and_then(|caller| caller.appservice) else {
        return Err(ApiError::new(
            ErrorKind::UnknownToken(Default::default()),
            "m.login.application_service is only for application services: send the as_token",
        ));
    };
    let identifier = login
        .identifier
        .as_ref()
        .ok_or_else(|| ApiError::new(ErrorKind::InvalidParam, "`identifier` of type m.id.user is required"))?;
    let user_id = user_id_from_identifier(identifier, &services.config.server_name)
        .ok_or_else(|| ApiError::new(ErrorKind::InvalidParam, "`identifier` must be of type m.id.user"))?;
    let registry = services.appservices.registry.snapshot();
    if !registry
        .by_id(&appservice.id)
        .is_some_and(|registration| registration.may_act_as(&user_id))
    {
        return Err(ApiError::new(
            ErrorKind::Forbidden,
            format!(
                "{user_id} is outside the user namespace of application service {}",
                appservice.id
            ),
        ));
    }
    let (device_id, tokens) =
        services
            .accounts
            .login_for_appservice(&user_id, device_id, initial_device_display_name, refresh_token)?;
    let mut response = login::Response::new(user_id, tokens.access_token, device_id);
    response.refresh_token = tokens.refresh_token;
    response.expires_in = tokens.expires_in;
    Ok(response)
}

/// # `POST /_matrix/client/v3/refresh`
pub async fn refresh_token_route(
    services: Services,
    request: Ruma<refresh_token::v3::Request>,
) -> Result<refresh_token::v3::Response> {
    let tokens = services.sessions.refresh(&request.body.refresh_token)?;
    let mut response = refresh_token::v3::Response::new(tokens.access_token);
    response.refresh_token = tokens.refresh_token;
    response.expires_in_ms = tokens.expires_in;
    Ok(response)
}

/// # `POST /_matrix/client/v3/logout`
pub async fn logout_route(services: Services, request: Ruma<logout::v3::Request>) -> Result<logout::v3::Response> {
    services.sessions.logout(&request.auth)?;
    Ok(logout::v3::Response::new())
}

/// # `POST /_matrix/client/v3/logout/all`
pub async fn logout_all_route(
    services: Services,
    request: Ruma<logout_all::v3::Request>,
) -> Result<logout_all::v3::Response> {
    services.sessions.logout_all(&request.auth.user_id)?;
    Ok(logout_all::v3::Response::new())
}
