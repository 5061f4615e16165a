//! The account management pages (`account_management_uri` of the OAuth metadata): a person
//! logs in (password, directory or identity provider), sees their account and its devices,
//! and signs devices out, each sign-out confirmed on a page that says what it will do (the
//! spec asks that of destructive actions). Clients link here with `action` and `device_id`.

use accord_core::time::now_millis;
use accord_service::{Services, oauth::ACCOUNT_COOKIE};
use axum::{
    extract::{Query, State},
    response::{IntoResponse, Response},
};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use ruma::{OwnedDeviceId, UserId};
use serde::Deserialize;

use crate::{
    extract::{client_ip, read_body},
    pages::{cookie, error_page, escape, page},
};

/// Where the pages live.
pub(crate) const ACCOUNT_PATH: &str = "/_accord/account";

/// The actions clients may ask for (the spec's names and MSC4191's earlier ones).
pub(crate) const ACTIONS: [&str; 4] = [
    "org.matrix.profile",
    "org.matrix.devices_list",
    "org.matrix.device_view",
    "org.matrix.device_delete",
];

#[derive(Debug, Default, Deserialize)]
pub(crate) struct Target {
    action: Option<String>,
    device_id: Option<String>,
}

impl Target {
    /// The same action again, as a query string.
    fn query(&self) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        if let Some(action) = &self.action {
            query.append_pair("action", action);
        }
        if let Some(device_id) = &self.device_id {
            query.append_pair("device_id", device_id);
        }
        query.finish()
    }
}

fn set_cookie(mut response: Response, services: &Services, value: &str, max_age: u32) -> Response {
    let secure = services.oauth.base_url().starts_with("https://");
    let cookie = format!(
        "{ACCOUNT_COOKIE}={value}; Path={ACCOUNT_PATH}; Max-Age={max_age}; HttpOnly; SameSite=Lax{}",
        if secure { "; Secure" } else { "" }
    );
    if let Ok(cookie) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

fn see_other(to: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(location) = HeaderValue::from_str(to) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

fn login_page(services: &Services, target: &Target, problem: Option<&str>, status: StatusCode) -> Response {
    let mut body = String::from("<p>Log in to manage your Matrix account and its devices.</p>");
    if let Some(problem) = problem {
        body.push_str(&format!("<p class=\"error\" role=\"alert\">{}</p>", escape(problem)));
    }
    let hidden = |name: &str, value: &Option<String>| {
        value.as_deref().map_or_else(String::new, |value| {
            format!("<input type=\"hidden\" name=\"{name}\" value=\"{}\">", escape(value))
        })
    };
    if services.config.oauth.password_login {
        body.push_str(&format!(
            "<form method=\"post\" action=\"{ACCOUNT_PATH}/login\">{}{}\
             <label for=\"username\">Username</label>\
             <input id=\"username\" name=\"username\" autocomplete=\"username\" required autofocus>\
             <label for=\"password\">Password</label>\
             <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
             <button type=\"submit\">Log in</button></form>",
            hidden("action", &target.action),
            hidden("device_id", &target.device_id),
        ));
    }
    let back = format!("{}{ACCOUNT_PATH}/sso?{}", services.oauth.base_url(), target.query());
    let back: String = url::form_urlencoded::byte_serialize(back.as_bytes()).collect();
    for (id, name) in services.sso.providers() {
        body.push_str(&format!(
            "<a class=\"button secondary\" href=\"/_matrix/client/v3/login/sso/redirect/{}?redirectUrl={}\">Continue with {}</a>",
            escape(&id),
            escape(&back),
            escape(&name)
        ));
    }
    page(status, "Your account", &body)
}

fn ago(ts: Option<u64>) -> String {
    let Some(ts) = ts else {
        return "never".to_owned();
    };
    let minutes = now_millis().saturating_sub(ts) / 60_000;
    match minutes {
        0 => "just now".to_owned(),
        1..=59 => format!("{minutes} min ago"),
        60..=1439 => format!("{} h ago", minutes / 60),
        _ => format!("{} days ago", minutes / 1440),
    }
}

/// The account overview: who, and every device with a way to view or sign it out.
fn overview(services: &Services, user_id: &UserId) -> Response {
    let devices = match services.devices.list(user_id) {
        Ok(devices) => devices,
        Err(err) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, &err.to_string()),
    };
    let rows: String = devices
        .iter()
        .map(|(id, record)| {
            let query: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("action", "org.matrix.device_delete")
                .append_pair("device_id", id.as_str())
                .finish();
            format!(
                "<li><strong>{}</strong> <span class=\"small\">{} · last seen {}</span> \
                 <a href=\"{ACCOUNT_PATH}?{}\">Sign out</a></li>",
                escape(record.display_name.as_deref().unwrap_or("Unnamed device")),
                escape(id.as_str()),
                escape(&ago(record.last_seen_ts)),
                escape(&query),
            )
        })
        .collect();
    page(
        StatusCode::OK,
        "Your account",
        &format!(
            "<p>Logged in as <strong>{}</strong>.</p><h2>Devices</h2><ul aria-label=\"Devices\">{rows}</ul>\
             <form method=\"post\" action=\"{ACCOUNT_PATH}/logout\"><button type=\"submit\" \
             style=\"background:#e3e8ee;color:#1b1f24\">Log out of this page</button></form>",
            escape(user_id.as_str())
        ),
    )
}

/// The confirmation before signing `device_id` out.
fn confirm_sign_out(services: &Services, user_id: &UserId, device_id: &str) -> Response {
    let device_id = OwnedDeviceId::from(device_id);
    let record = match services.devices.get(user_id, &device_id) {
        Ok(record) => record,
        Err(_) => return error_page(StatusCode::NOT_FOUND, "You have no device with that id."),
    };
    let name = record.display_name.unwrap_or_else(|| "Unnamed device".to_owned());
    page(
        StatusCode::OK,
        "Sign out this device?",
        &format!(
            "<p><strong>{}</strong> <span class=\"small\">({})</span> will be signed out: it loses access to your \
             account, and its encryption keys go with it unless they are backed up.</p>\
             <form method=\"post\" action=\"{ACCOUNT_PATH}/sign-out\">\
             <input type=\"hidden\" name=\"device_id\" value=\"{}\">\
             <button type=\"submit\">Sign out</button></form>\
             <a class=\"button secondary\" href=\"{ACCOUNT_PATH}\">Cancel</a>",
            escape(&name),
            escape(device_id.as_str()),
            escape(device_id.as_str()),
        ),
    )
}

/// One device: its name, id and last activity, with a way to sign it out.
fn device_page(services: &Services, user_id: &UserId, device_id: &str) -> Response {
    let device_id = OwnedDeviceId::from(device_id);
    let record = match services.devices.get(user_id, &device_id) {
        Ok(record) => record,
        Err(_) => return error_page(StatusCode::NOT_FOUND, "You have no device with that id."),
    };
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("action", "org.matrix.device_delete")
        .append_pair("device_id", device_id.as_str())
        .finish();
    page(
        StatusCode::OK,
        "Device",
        &format!(
            "<p><strong>{}</strong></p><p class=\"small\">Id {} · last seen {} from {}</p>\
             <a class=\"button\" href=\"{ACCOUNT_PATH}?{}\">Sign out this device</a>\
             <a class=\"button secondary\" href=\"{ACCOUNT_PATH}\">All devices</a>",
            escape(record.display_name.as_deref().unwrap_or("Unnamed device")),
            escape(device_id.as_str()),
            escape(&ago(record.last_seen_ts)),
            escape(record.last_seen_ip.as_deref().unwrap_or("an unknown address")),
            escape(&query),
        ),
    )
}

fn show(services: &Services, user_id: &UserId, target: &Target) -> Response {
    let action = target.action.as_deref().unwrap_or("org.matrix.profile");
    match (action, target.device_id.as_deref()) {
        ("org.matrix.device_delete" | "org.matrix.session_end", Some(device_id)) => {
            confirm_sign_out(services, user_id, device_id)
        }
        ("org.matrix.device_view" | "org.matrix.session_view", Some(device_id)) => {
            device_page(services, user_id, device_id)
        }
        _ => overview(services, user_id),
    }
}

/// # `GET /_accord/account` (`?action=...&device_id=...`)
pub(crate) async fn account_route(
    State(services): State<Services>,
    headers: HeaderMap,
    Query(target): Query<Target>,
) -> Response {
    if !services.oauth.enabled() {
        return error_page(
            StatusCode::NOT_FOUND,
            "Account management is not enabled on this server.",
        );
    }
    match services
        .oauth
        .account_session(cookie(&headers, ACCOUNT_COOKIE).as_deref())
    {
        Ok(Some(user_id)) => show(&services, &user_id, &target),
        Ok(None) => login_page(&services, &target, None, StatusCode::OK),
        Err(err) => error_page(StatusCode::INTERNAL_SERVER_ERROR, &err.to_string()),
    }
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    action: Option<String>,
    device_id: Option<String>,
}

/// # `POST /_accord/account/login`
pub(crate) async fn login_route(State(services): State<Services>, request: axum::extract::Request) -> Response {
    if !services.oauth.enabled() || !services.config.oauth.password_login {
        return error_page(StatusCode::NOT_FOUND, "Password login is not enabled here.");
    }
    let (parts, body) = request.into_parts();
    let address = client_ip(&services, &parts.headers, &parts.extensions);
    let Ok(bytes) = read_body(body, 64 * 1024).await else {
        return error_page(StatusCode::BAD_REQUEST, "The form was too large.");
    };
    let Ok(form) = serde_urlencoded::from_bytes::<LoginForm>(&bytes) else {
        return error_page(StatusCode::BAD_REQUEST, "The form was incomplete.");
    };
    let target = Target {
        action: form.action,
        device_id: form.device_id,
    };
    let user_id = match super::check_typed_password(&services, address, &form.username, &form.password).await {
        Ok(user_id) => user_id,
        Err((problem, status)) => return login_page(&services, &target, Some(&problem), status),
    };
    logged_in(&services, &user_id, &target)
}

fn logged_in(services: &Services, user_id: &UserId, target: &Target) -> Response {
    match services.oauth.start_account_session(user_id) {
        Ok(value) => set_cookie(
            see_other(&format!("{ACCOUNT_PATH}?{}", target.query())),
            services,
            &value,
            3600,
        ),
        Err(err) => error_page(StatusCode::INTERNAL_SERVER_ERROR, &err.to_string()),
    }
}

#[derive(Deserialize)]
pub(crate) struct SsoReturn {
    #[serde(rename = "loginToken")]
    login_token: String,
    action: Option<String>,
    device_id: Option<String>,
}

/// # `GET /_accord/account/sso`: back from an identity provider.
pub(crate) async fn sso_route(State(services): State<Services>, Query(query): Query<SsoReturn>) -> Response {
    if !services.oauth.enabled() {
        return error_page(
            StatusCode::NOT_FOUND,
            "Account management is not enabled on this server.",
        );
    }
    let target = Target {
        action: query.action,
        device_id: query.device_id,
    };
    match services.user_of_login_token(&query.login_token) {
        Ok(user_id) => logged_in(&services, &user_id, &target),
        Err(err) => error_page(StatusCode::FORBIDDEN, &err.to_string()),
    }
}

#[derive(Deserialize)]
struct SignOutForm {
    device_id: String,
}

/// # `POST /_accord/account/sign-out`: the confirmed sign-out of one device.
pub(crate) async fn sign_out_route(State(services): State<Services>, request: axum::extract::Request) -> Response {
    let (parts, body) = request.into_parts();
    let user_id = match services
        .oauth
        .account_session(cookie(&parts.headers, ACCOUNT_COOKIE).as_deref())
    {
        Ok(Some(user_id)) => user_id,
        Ok(None) => {
            return login_page(
                &services,
                &Target::default(),
                Some("Log in again first."),
                StatusCode::FORBIDDEN,
            );
        }
        Err(err) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, &err.to_string()),
    };
    let Ok(bytes) = read_body(body, 4096).await else {
        return error_page(StatusCode::BAD_REQUEST, "The form was too large.");
    };
    let Ok(form) = serde_urlencoded::from_bytes::<SignOutForm>(&bytes) else {
        return error_page(StatusCode::BAD_REQUEST, "The form was incomplete.");
    };
    match services
        .devices
        .sign_out(&user_id, &OwnedDeviceId::from(form.device_id.as_str()))
    {
        Ok(true) => {
            tracing::info!(user = %user_id, device = %form.device_id, "device signed out from the account page");
            page(
                StatusCode::OK,
                "Signed out",
                &format!(
                    "<p>The device {} is signed out.</p><a class=\"button secondary\" href=\"{ACCOUNT_PATH}\">Back to your account</a>",
                    escape(&form.device_id)
                ),
            )
        }
        Ok(false) => error_page(StatusCode::NOT_FOUND, "You have no device with that id."),
        Err(err) => error_page(StatusCode::INTERNAL_SERVER_ERROR, &err.to_string()),
    }
}

/// # `POST /_accord/account/logout`: ends the page's session (not the devices').
pub(crate) async fn logout_route(State(services): State<Services>, headers: HeaderMap) -> Response {
    if let Some(value) = cookie(&headers, ACCOUNT_COOKIE)
        && let Err(err) = services.oauth.end_account_session(&value)
    {
        return error_page(StatusCode::INTERNAL_SERVER_ERROR, &err.to_string());
    }
    set_cookie(
        page(
            StatusCode::OK,
            "Logged out",
            "<p>You are logged out of the account page.</p>",
        ),
        &services,
        "",
        0,
    )
}
