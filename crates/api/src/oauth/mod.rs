//! The OAuth 2.0 API (spec v1.15, `[oauth] enabled`): the server metadata clients discover,
//! the machine endpoints (`register`, `token`, `revoke`, `device`) and the pages people log
//! in and approve on. The grants themselves are `accord_service::oauth`'s.

mod account;
mod endpoints;
mod metadata;
mod pages;

use accord_service::{Services, oauth::BASE_PATH};
use axum::{
    Router,
    routing::{get, post},
};

use crate::router::RumaRouter;

/// A password typed on one of Accord's login pages: counted against the address's login
/// limit, then every check of `/login`. On failure, what to tell the person and the status.
pub(super) async fn check_typed_password(
    services: &Services,
    address: Option<std::net::IpAddr>,
    username: &str,
    password: &str,
) -> Result<ruma::OwnedUserId, (String, http::StatusCode)> {
    use accord_service::rate_limits::RateClass;
    use ruma::api::client::uiaa::{MatrixUserIdentifier, UserIdentifier};
    services
        .rate_limits
        .check_address(RateClass::LoginAddress, address)
        .map_err(|err| (err.to_string(), http::StatusCode::TOO_MANY_REQUESTS))?;
    let identifier = UserIdentifier::Matrix(MatrixUserIdentifier::new(username.trim().to_owned()));
    services
        .accounts
        .check_password_login(&identifier, password, address)
        .await
        .map_err(|err| {
            let status = match err.kind() {
                Some(ruma::api::error::ErrorKind::LimitExceeded(_)) => http::StatusCode::TOO_MANY_REQUESTS,
                Some(_) => http::StatusCode::FORBIDDEN,
                None => http::StatusCode::INTERNAL_SERVER_ERROR,
            };
            (err.to_string(), status)
        })
}

/// Registers the OAuth routes (they answer 404 `M_UNRECOGNIZED` while OAuth is off).
pub(crate) fn routes(router: Router<Services>) -> Router<Services> {
    let path = |name: &str| format!("{BASE_PATH}/{name}");
    router
        .ruma_route(metadata::auth_metadata_route)
        .route(&path("register"), post(endpoints::register_route))
        .route(&path("token"), post(endpoints::token_route))
        .route(&path("revoke"), post(endpoints::revoke_route))
        .route(&path("device"), post(endpoints::device_route))
        .route(&path("authorize"), get(pages::authorize_route))
        .route(&path("authorize/login"), post(pages::login_route))
        .route(&path("authorize/sso"), get(pages::sso_return_route))
        .route(&path("authorize/consent"), post(pages::consent_route))
        .route(&path("device/verify"), get(pages::device_verify_route))
        .route(account::ACCOUNT_PATH, get(account::account_route))
        .route(&format!("{}/login", account::ACCOUNT_PATH), post(account::login_route))
        .route(&format!("{}/sso", account::ACCOUNT_PATH), get(account::sso_route))
        .route(
            &format!("{}/sign-out", account::ACCOUNT_PATH),
            post(account::sign_out_route),
        )
        .route(
            &format!("{}/logout", account::ACCOUNT_PATH),
            post(account::logout_route),
        )
}
