//! `POST /_synapse/admin/v1/send_server_notice` and `PUT .../send_server_notice/{txnId}`
//! (Synapse's admin API): the admin check comes before the body is read, so a non-admin gets
//! 403 whatever they sent (Complement's TestServerNotices).

use accord_service::{Services, server_notices::ServerNotice};
use axum::{
    Json,
    extract::{Path, Request, State},
    response::{IntoResponse, Response},
};
use ruma::{OwnedUserId, api::error::ErrorKind};
use serde::Deserialize;
use serde_json::{Value, json};

use super::admin;
use crate::{ApiError, Result, extract::read_body};

#[derive(Deserialize)]
struct Body {
    user_id: Option<String>,
    content: Option<Value>,
    #[serde(rename = "type")]
    kind: Option<String>,
    state_key: Option<String>,
}

/// # `POST /_synapse/admin/v1/send_server_notice`
pub(crate) async fn send_route(State(services): State<Services>, request: Request) -> Response {
    send(services, None, request)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// # `PUT /_synapse/admin/v1/send_server_notice/{txnId}`
pub(crate) async fn send_txn_route(
    State(services): State<Services>,
    Path(txn_id): Path<String>,
    request: Request,
) -> Response {
    send(services, Some(txn_id), request)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn send(services: Services, txn: Option<String>, request: Request) -> Result<Response> {
    let (parts, body) = request.into_parts();
    let caller = admin(&services, &parts)?;
    let bytes = read_body(body, services.config.client_api.max_request_bytes).await?;
    let body: Body = serde_json::from_slice(&bytes)
        .map_err(|err| ApiError::new(ErrorKind::BadJson, format!("Invalid body: {err}")))?;
    let missing = |what: &str| ApiError::new(ErrorKind::MissingParam, format!("{what} is required"));
    let user_id = body.user_id.ok_or_else(|| missing("user_id"))?;
    let user_id = OwnedUserId::try_from(user_id)
        .map_err(|err| ApiError::new(ErrorKind::InvalidParam, format!("user_id: {err}")))?;
    let notice = ServerNotice {
        user_id,
        kind: body.kind.unwrap_or_else(|| "m.room.message".to_owned()),
        state_key: body.state_key,
        content: body.content.ok_or_else(|| missing("content"))?,
    };
    let event_id = services.send_server_notice(&caller, notice, txn.as_deref()).await?;
    Ok(Json(json!({ "event_id": event_id })).into_response())
}
