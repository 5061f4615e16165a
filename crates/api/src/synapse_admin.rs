//! Synapse's shared-secret registration endpoint, which provisioning tools and test suites
//! (synapse's `register_new_matrix_user`, matrix-nio's and complement's harnesses) call.

use accord_service::{Services, shared_secret::SharedSecretRequest};
use axum::{
    Json,
    extract::{Request, State},
    response::{IntoResponse, Response},
};
use ruma::api::error::ErrorKind;
use serde::Deserialize;
use serde_json::json;

use crate::{ApiError, Result, extract::read_body};

/// # `GET /_synapse/admin/v1/register`
pub async fn get_nonce_route(State(services): State<Services>) -> Result<Response> {
    let nonce = services.shared_secret.new_nonce()?;
    Ok(Json(json!({ "nonce": nonce })).into_response())
}

#[derive(Deserialize)]
struct Body {
    nonce: String,
    username: String,
    password: String,
    #[serde(default)]
    displayname: Option<String>,
    #[serde(default)]
    admin: bool,
    mac: String,
}

/// # `POST /_synapse/admin/v1/register`
pub async fn register_route(State(services): State<Services>, request: Request) -> Result<Response> {
    let bytes = read_body(request.into_body(), services.config.client_api.max_request_bytes).await?;
    let value: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|_| ApiError::new(ErrorKind::NotJson, "Request body is not valid JSON"))?;
    let body: Body = serde_json::from_value(value).map_err(|err| ApiError::new(ErrorKind::BadJson, err.to_string()))?;
    let registered = services
        .shared_secret
        .register(SharedSecretRequest {
            nonce: body.nonce,
            username: body.username,
            displayname: body.displayname,
            password: body.password,
            admin: body.admin,
            mac: body.mac,
        })
        .await?;
    let mut response = json!({
        "user_id": registered.user_id,
        "home_server": services.config.server_name,
    });
    if let Some((device_id, tokens)) = registered.login {
        response["device_id"] = json!(device_id);
        response["access_token"] = json!(tokens.access_token);
    }
    Ok(Json(response).into_response())
}
