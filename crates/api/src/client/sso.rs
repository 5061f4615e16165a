//! Single sign-on for clients that use `m.login.sso` (Element Web, Element Desktop, older
//! apps): the redirect to an identity provider, the provider's callback, and the page that
//! hands the browser back to the client with its login token. The flow itself is
//! `accord_service::sso`'s.

use accord_service::{
    Services,
    sso::{BROWSER_COOKIE, CALLBACK_PATH},
};
use axum::{
    extract::{Path, Query, State},
    response::{IntoResponse, Response},
};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use ruma::api::error::ErrorKind;
use serde::Deserialize;

use crate::{
    ApiError,
    pages::{cookie, error_page, escape, page},
};

#[derive(Deserialize)]
pub(crate) struct RedirectQuery {
    #[serde(rename = "redirectUrl")]
    redirect_url: Option<String>,
}

/// # `GET /_matrix/client/v3/login/sso/redirect`
///
/// With one identity provider, straight to it; with several, a page to pick one.
pub(crate) async fn redirect_route(State(services): State<Services>, Query(query): Query<RedirectQuery>) -> Response {
    let Some(redirect_url) = query.redirect_url else {
        return missing_redirect_url();
    };
    let providers = services.sso.providers();
    match providers.as_slice() {
        [] => ApiError::new(
            ErrorKind::Unrecognized,
            "No identity providers are configured on this server",
        )
        .into_response(),
        [(id, _)] => start(&services, id, &redirect_url).await,
        several => picker(several, &redirect_url),
    }
}

/// # `GET /_matrix/client/v3/login/sso/redirect/{idpId}`
pub(crate) async fn redirect_with_provider_route(
    State(services): State<Services>,
    Path(idp_id): Path<String>,
    Query(query): Query<RedirectQuery>,
) -> Response {
    match query.redirect_url {
        Some(redirect_url) => start(&services, &idp_id, &redirect_url).await,
        None => missing_redirect_url(),
    }
}

fn missing_redirect_url() -> Response {
    ApiError::new(ErrorKind::MissingParam, "redirectUrl is required").into_response()
}

async fn start(services: &Services, idp_id: &str, redirect_url: &str) -> Response {
    match services.sso.start(idp_id, redirect_url).await {
        Ok(started) => {
            let secure = services
                .config
                .client_api
                .public_baseurl
                .as_deref()
                .is_some_and(|base| base.starts_with("https://"));
            let cookie = format!(
                "{BROWSER_COOKIE}={}; Path={CALLBACK_PATH}; Max-Age=600; HttpOnly; SameSite=Lax{}",
                started.browser_cookie,
                if secure { "; Secure" } else { "" }
            );
            let mut response = StatusCode::FOUND.into_response();
            let headers = response.headers_mut();
            if let Ok(location) = HeaderValue::from_str(&started.location) {
                headers.insert(header::LOCATION, location);
            }
            if let Ok(cookie) = HeaderValue::from_str(&cookie) {
                headers.insert(header::SET_COOKIE, cookie);
            }
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(err) => ApiError::from(err).into_response(),
    }
}

/// The page listing the providers, each a link that starts the login with it.
fn picker(providers: &[(String, String)], redirect_url: &str) -> Response {
    let encoded: String = url::form_urlencoded::byte_serialize(redirect_url.as_bytes()).collect();
    let links: String = providers
        .iter()
        .map(|(id, name)| {
            format!(
                "<a class=\"button\" href=\"/_matrix/client/v3/login/sso/redirect/{}?redirectUrl={}\">Continue with {}</a>",
                escape(id),
                escape(&encoded),
                escape(name)
            )
        })
        .collect();
    page(
        StatusCode::OK,
        "Choose how to log in",
        &format!(
            "<p>Log in to your Matrix account with your organization's login.</p><nav aria-label=\"Identity providers\">{links}</nav>"
        ),
    )
}

#[derive(Deserialize)]
pub(crate) struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// # `GET /_synapse/client/oidc/callback` (the path Synapse uses, so IdP registrations made
/// for Synapse work unchanged).
pub(crate) async fn callback_route(
    State(services): State<Services>,
    headers: HeaderMap,
    Query(query): Query<CallbackQuery>,
) -> Response {
    if let Some(error) = query.error {
        let detail = query.error_description.unwrap_or_default();
        return error_page(
            StatusCode::FORBIDDEN,
            &format!("The identity provider refused the login: {error} {detail}"),
        );
    }
    let (Some(code), Some(state)) = (query.code, query.state) else {
        return error_page(StatusCode::BAD_REQUEST, "The identity provider sent no code and state.");
    };
    let cookie = cookie(&headers, BROWSER_COOKIE);
    match services.sso_callback(&state, &code, cookie.as_deref()).await {
        // Back into Accord's own pages (the OAuth login, the account page): no app to warn
        // about, straight on.
        Ok(login)
            if login
                .redirect_to
                .starts_with(&format!("{}/_accord/", services.oauth.base_url()))
                && services.oauth.enabled() =>
        {
            let mut response = StatusCode::FOUND.into_response();
            if let Ok(location) = HeaderValue::from_str(&login.redirect_to) {
                response.headers_mut().insert(header::LOCATION, location);
            }
            response
        }
        Ok(login) => page(
            StatusCode::OK,
            "Continue to your app",
            &format!(
                "<p>You are logged in as <strong>{user}</strong>.</p>\
                 <p>Continue only if you started this login in <strong>{client}</strong>: it will get access to your account.</p>\
                 <a class=\"button\" href=\"{href}\">Continue to {client}</a>",
                user = escape(login.user_id.as_str()),
                client = escape(&login.client),
                href = escape(&login.redirect_to),
            ),
        ),
        Err(err) => {
            let message = match err.kind() {
                Some(_) => err.to_string(),
                None => "The server could not finish the login; try again later.".to_owned(),
            };
            error_page(StatusCode::FORBIDDEN, &message)
        }
    }
}
