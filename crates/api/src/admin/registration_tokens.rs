//! `/_synapse/admin/v1/registration_tokens` (Synapse's admin API): list, read, create, change
//! and delete registration tokens. Field checks follow Synapse's, so its admin tools'
//! forms get the answers they expect.

use accord_service::{
    Services,
    registration_tokens::{NewToken, TokenChange},
};
use axum::{
    Json,
    extract::{Path, Request, State},
    response::{IntoResponse, Response},
};
use ruma::api::error::ErrorKind;
use serde_json::{Map, Value, json};

use super::admin;
use crate::{ApiError, Result, extract::read_body};

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorKind::InvalidParam, message)
}

async fn object_body(services: &Services, body: axum::body::Body) -> Result<Map<String, Value>> {
    let bytes = read_body(body, services.config.client_api.max_request_bytes).await?;
    if bytes.is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(fields)) => Ok(fields),
        Ok(_) => Err(ApiError::new(ErrorKind::NotJson, "The body must be a JSON object")),
        Err(err) => Err(ApiError::new(ErrorKind::NotJson, format!("Invalid body: {err}"))),
    }
}

/// A field that is absent (`None`), `null` (`Some(None)`) or a whole number of at least 0.
fn limit_field(fields: &Map<String, Value>, name: &str) -> Result<Option<Option<u64>>> {
    match fields.get(name) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(value) => value
            .as_u64()
            .map(|n| Some(Some(n)))
            .ok_or_else(|| invalid(format!("`{name}` must be null or an integer of at least 0"))),
    }
}

/// # `GET /_synapse/admin/v1/registration_tokens` (`?valid=true|false`)
pub(crate) async fn list_route(State(services): State<Services>, request: Request) -> Response {
    list(services, request)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn list(services: Services, request: Request) -> Result<Response> {
    let (parts, _) = request.into_parts();
    admin(&services, &parts)?;
    let params: Vec<(String, String)> =
        serde_urlencoded::from_str(parts.uri.query().unwrap_or_default()).map_err(|err| invalid(err.to_string()))?;
    let valid = match params
        .iter()
        .find(|(key, _)| key == "valid")
        .map(|(_, value)| value.as_str())
    {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(other) => return Err(invalid(format!("`valid` must be true or false, not {other:?}"))),
    };
    let tokens = services.registration_tokens.list(valid)?;
    Ok(Json(json!({ "registration_tokens": tokens })).into_response())
}

/// # `POST /_synapse/admin/v1/registration_tokens/new`
pub(crate) async fn create_route(State(services): State<Services>, request: Request) -> Response {
    create(services, request)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn create(services: Services, request: Request) -> Result<Response> {
    let (parts, body) = request.into_parts();
    admin(&services, &parts)?;
    let fields = object_body(&services, body).await?;
    let token = match fields.get("token") {
        None | Some(Value::Null) => None,
        Some(Value::String(token)) => Some(token.clone()),
        Some(_) => return Err(invalid("`token` must be a string")),
    };
    let length = match fields.get("length") {
        None | Some(Value::Null) => None,
        Some(value) => Some(
            value
                .as_u64()
                .ok_or_else(|| invalid("`length` must be an integer from 1 to 64"))?,
        ),
    };
    let new = NewToken {
        token,
        length,
        uses_allowed: limit_field(&fields, "uses_allowed")?.flatten(),
        expiry_time: limit_field(&fields, "expiry_time")?.flatten(),
    };
    Ok(Json(services.registration_tokens.create(new)?).into_response())
}

/// # `GET|PUT|DELETE /_synapse/admin/v1/registration_tokens/{token}`
pub(crate) async fn token_route(
    State(services): State<Services>,
    Path(token): Path<String>,
    request: Request,
) -> Response {
    one(services, token, request)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn one(services: Services, token: String, request: Request) -> Result<Response> {
    let (parts, body) = request.into_parts();
    admin(&services, &parts)?;
    let tokens = &services.registration_tokens;
    let answer = match parts.method {
        http::Method::GET => json!(tokens.get(&token)?),
        http::Method::PUT => {
            let fields = object_body(&services, body).await?;
            let change = TokenChange {
                uses_allowed: limit_field(&fields, "uses_allowed")?,
                expiry_time: limit_field(&fields, "expiry_time")?,
            };
            json!(tokens.update(&token, change)?)
        }
        _ => {
            tokens.delete(&token)?;
            json!({})
        }
    };
    Ok(Json(answer).into_response())
}
