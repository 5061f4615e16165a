//! The pages people see during an OAuth authorization: log in (password, or an identity
//! provider), then allow or deny the app; and the device verification page where a code
//! shown on another device is typed. Forms post back here with the request's id; a cookie
//! set on the first page ties them to the browser that started, and is sent only with
//! same-site posts (SameSite=Lax), so another site can't post them.

use accord_service::{
    PendingAuthorization, Services,
    oauth::{AuthorizeParams, AuthorizeStart, BASE_PATH, BROWSER_COOKIE},
};
use axum::{
    extract::{Query, State},
    response::{IntoResponse, Response},
};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::Deserialize;

use crate::{
    extract::read_body,
    pages::{cookie, error_page, escape, page},
};

fn cookie_of(headers: &HeaderMap) -> Option<String> {
    cookie(headers, BROWSER_COOKIE)
}

fn with_cookie(mut response: Response, services: &Services, cookie: &str) -> Response {
    let secure = services.oauth.base_url().starts_with("https://");
    let value = format!(
        "{BROWSER_COOKIE}={cookie}; Path={BASE_PATH}; Max-Age=1800; HttpOnly; SameSite=Lax{}",
        if secure { "; Secure" } else { "" }
    );
    if let Ok(value) = HeaderValue::from_str(&value) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

fn redirect(to: &str, status: StatusCode) -> Response {
    let mut response = status.into_response();
    if let Ok(location) = HeaderValue::from_str(to) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn disabled() -> Response {
    error_page(StatusCode::NOT_FOUND, "OAuth 2.0 login is not enabled on this server.")
}

/// The login page of request `request_id`, for `client_id`, with `problem` shown.
fn login_page(
    services: &Services,
    request_id: &str,
    client_id: &str,
    problem: Option<&str>,
    status: StatusCode,
) -> Response {
    let label = match services.oauth.client_label(client_id) {
        Ok(label) => label,
        Err(err) => return error_page(StatusCode::FORBIDDEN, &err.to_string()),
    };
    let mut body = format!(
        "<p>Log in to continue to <strong>{}</strong> <span class=\"small\">({})</span>.</p>",
        escape(&label.name),
        escape(&label.host)
    );
    if let Some(problem) = problem {
        body.push_str(&format!("<p class=\"error\" role=\"alert\">{}</p>", escape(problem)));
    }
    let request = escape(request_id);
    if services.config.oauth.password_login {
        body.push_str(&format!(
            "<form method=\"post\" action=\"{BASE_PATH}/authorize/login\">\
             <input type=\"hidden\" name=\"request\" value=\"{request}\">\
             <label for=\"username\">Username</label>\
             <input id=\"username\" name=\"username\" autocomplete=\"username\" required autofocus>\
             <label for=\"password\">Password</label>\
             <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
             <button type=\"submit\">Log in</button></form>"
        ));
    }
    let back = format!(
        "{}{BASE_PATH}/authorize/sso?request={}",
        services.oauth.base_url(),
        request_id
    );
    let back: String = url::form_urlencoded::byte_serialize(back.as_bytes()).collect();
    for (id, name) in services.sso.providers() {
        body.push_str(&format!(
            "<a class=\"button secondary\" href=\"/_matrix/client/v3/login/sso/redirect/{}?redirectUrl={}\">Continue with {}</a>",
            escape(&id),
            escape(&back),
            escape(&name)
        ));
    }
    page(status, "Log in", &body)
}

/// The consent page of request `request_id`. Its form's answer redirects to the client, so
/// the page's `form-action` admits the redirect URI's origin too (browsers apply it to the
/// redirect after the post).
fn consent_page(services: &Services, request_id: &str, pending: &PendingAuthorization, user: &str) -> Response {
    let client_id = pending.client_id.as_str();
    let label = match services.oauth.client_label(client_id) {
        Ok(label) => label,
        Err(err) => return error_page(StatusCode::FORBIDDEN, &err.to_string()),
    };
    let body = format!(
        "<p><strong>{name}</strong> <span class=\"small\">({host})</span> asks for access to your account \
         <strong>{user}</strong>: it will read and send messages, and manage your rooms, as you.</p>\
         <p>Allow it only if you are logging in to {name} yourself right now.</p>\
         <form method=\"post\" action=\"{BASE_PATH}/authorize/consent\">\
         <input type=\"hidden\" name=\"request\" value=\"{request}\">\
         <button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button>\
         <button type=\"submit\" name=\"decision\" value=\"deny\" style=\"background:#e3e8ee;color:#1b1f24\">Deny</button>\
         </form>",
        name = escape(&label.name),
        host = escape(&label.host),
        user = escape(user),
        request = escape(request_id),
    );
    let mut response = page(StatusCode::OK, "Allow access?", &body);
    let target = url::Url::parse(&pending.redirect_uri)
        .ok()
        .map(|url| match url.host_str() {
            Some(_) => url.origin().ascii_serialization(),
            None => format!("{}:", url.scheme()),
        });
    if let Some(target) = target {
        let policy = format!(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' {target}; frame-ancestors 'none'"
        );
        if let Ok(value) = HeaderValue::from_str(&policy) {
            response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, value);
        }
    }
    response
}

/// # `GET /_accord/oauth2/authorize`
pub(crate) async fn authorize_route(
    State(services): State<Services>,
    Query(params): Query<AuthorizeParams>,
) -> Response {
    if !services.oauth.enabled() {
        return disabled();
    }
    let client_id = params.client_id.clone().unwrap_or_default();
    match services.oauth.start_authorization(params) {
        Ok(AuthorizeStart::Page {
            request_id,
            browser_cookie,
        }) => with_cookie(
            login_page(&services, &request_id, &client_id, None, StatusCode::OK),
            &services,
            &browser_cookie,
        ),
        Ok(AuthorizeStart::ShowError(message)) => error_page(StatusCode::BAD_REQUEST, &message),
        Ok(AuthorizeStart::Redirect(to)) => redirect(&to, StatusCode::FOUND),
        Err(err) => error_page(StatusCode::INTERNAL_SERVER_ERROR, &err.to_string()),
    }
}

#[derive(Deserialize)]
struct LoginForm {
    request: String,
    username: String,
    password: String,
}

/// # `POST /_accord/oauth2/authorize/login`: the password form.
pub(crate) async fn login_route(State(services): State<Services>, request: axum::extract::Request) -> Response {
    if !services.oauth.enabled() || !services.config.oauth.password_login {
        return disabled();
    }
    let (parts, body) = request.into_parts();
    let cookie = cookie_of(&parts.headers);
    let address = crate::extract::client_ip(&services, &parts.headers, &parts.extensions);
    let Ok(bytes) = read_body(body, 64 * 1024).await else {
        return error_page(StatusCode::BAD_REQUEST, "The form was too large.");
    };
    let Ok(form) = serde_urlencoded::from_bytes::<LoginForm>(&bytes) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "The form was incomplete; start again from the app.",
        );
    };
    let pending = match services.oauth.pending(&form.request, cookie.as_deref()) {
        Ok(pending) => pending,
        Err(err) => return error_page(StatusCode::FORBIDDEN, &err.to_string()),
    };
    let user_id = match super::check_typed_password(&services, address, &form.username, &form.password).await {
        Ok(user_id) => user_id,
        Err((problem, status)) => {
            return login_page(&services, &form.request, &pending.client_id, Some(&problem), status);
        }
    };
    if let Err(err) = services.oauth.logged_in(&form.request, cookie.as_deref(), &user_id) {
        return error_page(StatusCode::FORBIDDEN, &err.to_string());
    }
    consent_page(&services, &form.request, &pending, user_id.as_str())
}

#[derive(Deserialize)]
pub(crate) struct SsoReturn {
    request: String,
    #[serde(rename = "loginToken")]
    login_token: String,
}

/// # `GET /_accord/oauth2/authorize/sso`: back from an identity provider with a login token.
pub(crate) async fn sso_return_route(
    State(services): State<Services>,
    headers: HeaderMap,
    Query(query): Query<SsoReturn>,
) -> Response {
    if !services.oauth.enabled() {
        return disabled();
    }
    let cookie = cookie_of(&headers);
    let pending = match services.oauth.pending(&query.request, cookie.as_deref()) {
        Ok(pending) => pending,
        Err(err) => return error_page(StatusCode::FORBIDDEN, &err.to_string()),
    };
    let user_id = match services.user_of_login_token(&query.login_token) {
        Ok(user_id) => user_id,
        Err(err) => return error_page(StatusCode::FORBIDDEN, &err.to_string()),
    };
    if let Err(err) = services.oauth.logged_in(&query.request, cookie.as_deref(), &user_id) {
        return error_page(StatusCode::FORBIDDEN, &err.to_string());
    }
    consent_page(&services, &query.request, &pending, user_id.as_str())
}

#[derive(Deserialize)]
struct ConsentForm {
    request: String,
    decision: String,
}

/// # `POST /_accord/oauth2/authorize/consent`
pub(crate) async fn consent_route(State(services): State<Services>, request: axum::extract::Request) -> Response {
    if !services.oauth.enabled() {
        return disabled();
    }
    let (parts, body) = request.into_parts();
    let cookie = cookie_of(&parts.headers);
    let Ok(bytes) = read_body(body, 64 * 1024).await else {
        return error_page(StatusCode::BAD_REQUEST, "The form was too large.");
    };
    let Ok(form) = serde_urlencoded::from_bytes::<ConsentForm>(&bytes) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "The form was incomplete; start again from the app.",
        );
    };
    let allow = form.decision == "allow";
    match services.oauth.decide(&form.request, cookie.as_deref(), allow) {
        // 303: the browser follows a form post with a GET.
        Ok(Some(to)) => redirect(&to, StatusCode::SEE_OTHER),
        Ok(None) if allow => page(
            StatusCode::OK,
            "Device approved",
            "<p>You can close this page; your device is logging in.</p>",
        ),
        Ok(None) => page(
            StatusCode::OK,
            "Device denied",
            "<p>The device was not given access.</p>",
        ),
        Err(err) => error_page(StatusCode::FORBIDDEN, &err.to_string()),
    }
}

#[derive(Deserialize)]
pub(crate) struct VerifyQuery {
    user_code: Option<String>,
}

/// # `GET /_accord/oauth2/device/verify`: type the code a device shows, then log in.
pub(crate) async fn device_verify_route(
    State(services): State<Services>,
    Query(query): Query<VerifyQuery>,
) -> Response {
    if !services.oauth.enabled() {
        return disabled();
    }
    let Some(user_code) = query.user_code.filter(|code| !code.trim().is_empty()) else {
        return page(
            StatusCode::OK,
            "Connect a device",
            &format!(
                "<p>Type the code your device shows.</p><form method=\"get\" action=\"{BASE_PATH}/device/verify\">\
                 <label for=\"user_code\">Code</label><input id=\"user_code\" name=\"user_code\" autocomplete=\"off\" required autofocus>\
                 <button type=\"submit\">Continue</button></form>"
            ),
        );
    };
    match services.oauth.start_device_verification(&user_code) {
        Ok((request_id, browser_cookie, client_id)) => with_cookie(
            login_page(&services, &request_id, &client_id, None, StatusCode::OK),
            &services,
            &browser_cookie,
        ),
        Err(err) => error_page(StatusCode::NOT_FOUND, &err.to_string()),
    }
}
