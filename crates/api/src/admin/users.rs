//! User measures in the shape of Synapse's admin API, for the tools built on it:
//! `/_synapse/admin/v1/users/{userId}/override_ratelimit` and `/_synapse/admin/v1/suspend/{userId}`.
//! The client API's own lock and suspend endpoints are in `client::account_moderation`.

use accord_service::{RateLimitOverride, Services, account_state::Measure};
use axum::{
    Json,
    extract::{Path, Request, State},
    response::{IntoResponse, Response},
};
use ruma::api::error::ErrorKind;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{admin, request::path_user};
use crate::{ApiError, Result, extract::read_body};

async fn json_body<T: serde::de::DeserializeOwned + Default>(services: &Services, body: axum::body::Body) -> Result<T> {
    let bytes = read_body(body, services.config.client_api.max_request_bytes).await?;
    if bytes.is_empty() {
        return Ok(T::default());
    }
    serde_json::from_slice(&bytes).map_err(|err| ApiError::new(ErrorKind::InvalidParam, format!("Invalid body: {err}")))
}

/// The override body: both numbers are optional (0 when left out), and must be whole numbers
/// of at least 0, as Synapse checks.
#[derive(Default, Deserialize)]
struct OverrideBody {
    #[serde(default)]
    messages_per_second: u64,
    #[serde(default)]
    burst_count: u64,
}

fn render_override(custom: Option<RateLimitOverride>) -> Value {
    custom.map_or_else(
        || json!({}),
        |custom| {
            json!({
                "messages_per_second": custom.messages_per_second,
                "burst_count": custom.burst_count,
            })
        },
    )
}

/// # `GET|POST|DELETE /_synapse/admin/v1/users/{userId}/override_ratelimit`
pub(crate) async fn override_ratelimit_route(
    State(services): State<Services>,
    Path(target): Path<String>,
    request: Request,
) -> Response {
    override_ratelimit(services, target, request)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn override_ratelimit(services: Services, target: String, request: Request) -> Result<Response> {
    let (parts, body) = request.into_parts();
    let caller = admin(&services, &parts)?;
    let target = path_user(&target)?;
    let answer = match parts.method {
        http::Method::GET => render_override(services.accounts.ratelimit_override(&target)?),
        http::Method::POST => {
            let body: OverrideBody = json_body(&services, body).await?;
            let custom = RateLimitOverride {
                messages_per_second: body.messages_per_second,
                burst_count: body.burst_count,
            };
            services
                .accounts
                .set_ratelimit_override(&caller, &target, Some(custom))?;
            render_override(Some(custom))
        }
        _ => {
            services.accounts.set_ratelimit_override(&caller, &target, None)?;
            json!({})
        }
    };
    Ok(Json(answer).into_response())
}

#[derive(Default, Deserialize)]
struct SuspendBody {
    suspend: Option<bool>,
}

/// # `PUT /_synapse/admin/v1/suspend/{userId}`: `{"suspend": bool}`.
pub(crate) async fn suspend_route(
    State(services): State<Services>,
    Path(target): Path<String>,
    request: Request,
) -> Response {
    suspend(services, target, request)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn suspend(services: Services, target: String, request: Request) -> Result<Response> {
    let (parts, body) = request.into_parts();
    let caller = admin(&services, &parts)?;
    let target = path_user(&target)?;
    let body: SuspendBody = json_body(&services, body).await?;
    let on = body
        .suspend
        .ok_or_else(|| ApiError::new(ErrorKind::MissingParam, "`suspend` (true or false) is required"))?;
    let suspended = services.accounts.set_measure(&caller, &target, Measure::Suspend, on)?;
    Ok(Json(json!({ format!("user_{target}_suspended"): suspended })).into_response())
}
