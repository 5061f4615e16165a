//! The machine endpoints of the authorization server: registration (JSON), token,
//! revocation and device authorization (forms). Answers and errors are OAuth's JSON
//! (`{"error", "error_description"}`), not Matrix errors, and never cached.

use std::collections::HashMap;

use accord_service::{Services, oauth::OAuthError};
use axum::{
    Json,
    extract::{Request, State},
    response::{IntoResponse, Response},
};
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};

use crate::extract::read_body;

/// The most an OAuth request body may be (metadata and forms are small).
const MAX_BODY: usize = 64 * 1024;

fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

fn error(err: OAuthError) -> Response {
    let status = StatusCode::from_u16(err.status).unwrap_or(StatusCode::BAD_REQUEST);
    no_store(
        (
            status,
            Json(json!({ "error": err.error, "error_description": err.description })),
        )
            .into_response(),
    )
}

fn disabled() -> Response {
    error(OAuthError {
        status: 404,
        error: "invalid_request",
        description: "the OAuth 2.0 API is not enabled on this server".to_owned(),
    })
}

async fn body(request: Request) -> Result<bytes::Bytes, Response> {
    read_body(request.into_body(), MAX_BODY).await.map_err(|_| {
        error(OAuthError {
            status: 400,
            error: "invalid_request",
            description: format!("the body must be at most {MAX_BODY} bytes"),
        })
    })
}

async fn form(request: Request) -> Result<HashMap<String, String>, Response> {
    let bytes = body(request).await?;
    serde_urlencoded::from_bytes(&bytes).map_err(|err| {
        error(OAuthError {
            status: 400,
            error: "invalid_request",
            description: format!("the body must be application/x-www-form-urlencoded: {err}"),
        })
    })
}

/// # `POST /_accord/oauth2/register` (RFC 7591): 201 with the client's id.
pub(crate) async fn register_route(State(services): State<Services>, request: Request) -> Response {
    if !services.oauth.enabled() {
        return disabled();
    }
    let bytes = match body(request).await {
        Ok(bytes) => bytes,
        Err(response) => return response,
    };
    let metadata: Value = match serde_json::from_slice(&bytes) {
        Ok(metadata) => metadata,
        Err(err) => {
            return error(OAuthError {
                status: 400,
                error: "invalid_client_metadata",
                description: format!("the body is not JSON: {err}"),
            });
        }
    };
    match services.oauth.register(metadata) {
        Ok(client) => no_store((StatusCode::CREATED, Json(client)).into_response()),
        Err(err) => error(err),
    }
}

/// # `POST /_accord/oauth2/token`
pub(crate) async fn token_route(State(services): State<Services>, request: Request) -> Response {
    if !services.oauth.enabled() {
        return disabled();
    }
    let form = match form(request).await {
        Ok(form) => form,
        Err(response) => return response,
    };
    match services.oauth.token(&form) {
        Ok(answer) => no_store(Json(answer).into_response()),
        Err(err) => error(err),
    }
}

/// # `POST /_accord/oauth2/revoke` (RFC 7009): 200 whether or not the token was known.
pub(crate) async fn revoke_route(State(services): State<Services>, request: Request) -> Response {
    if !services.oauth.enabled() {
        return disabled();
    }
    let form = match form(request).await {
        Ok(form) => form,
        Err(response) => return response,
    };
    match services.oauth.revoke(&form) {
        Ok(()) => no_store(Json(json!({})).into_response()),
        Err(err) => error(err),
    }
}

/// # `POST /_accord/oauth2/device` (RFC 8628)
pub(crate) async fn device_route(State(services): State<Services>, request: Request) -> Response {
    if !services.oauth.enabled() {
        return disabled();
    }
    let form = match form(request).await {
        Ok(form) => form,
        Err(response) => return response,
    };
    match services.oauth.device_authorization(&form) {
        Ok(answer) => no_store(Json(answer).into_response()),
        Err(err) => error(err),
    }
}
