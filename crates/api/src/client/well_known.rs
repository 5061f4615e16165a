//! `/.well-known/matrix/{client,server}`: answered from the `[well_known]` config section;
//! 404 `M_NOT_FOUND` when unset, so clients and servers fall back to the host they asked.

use accord_service::Services;
use axum::{
    Json,
    extract::State,
    response::{IntoResponse, Response},
};
use http::StatusCode;
use ruma::api::error::ErrorKind;
use serde_json::json;

use crate::error_response;

/// # `GET /.well-known/matrix/client`
pub async fn client_route(State(services): State<Services>) -> Response {
    match &services.config.well_known.client {
        Some(base_url) => Json(json!({ "m.homeserver": { "base_url": base_url } })).into_response(),
        None => error_response(
            StatusCode::NOT_FOUND,
            ErrorKind::NotFound,
            "No client well-known is configured",
        ),
    }
}

/// # `GET /.well-known/matrix/server`
pub async fn server_route(State(services): State<Services>) -> Response {
    match &services.config.well_known.server {
        Some(server) => Json(json!({ "m.server": server })).into_response(),
        None => error_response(
            StatusCode::NOT_FOUND,
            ErrorKind::NotFound,
            "No server well-known is configured",
        ),
    }
}
