//! Client config: global and per-room account data.

use accord_service::{Error, Services};
use http::StatusCode;
use ruma::{
    api::{
        client::config::{
            get_global_account_data, get_room_account_data, set_global_account_data, set_room_account_data,
        },
        error::ErrorKind,
    },
    serde::Raw,
};
use serde_json::Value;

use crate::{ApiError, Result, Ruma};

/// Server-managed types get 405 `M_BAD_JSON` (spec); other failures keep their status.
fn refuse_server_managed(error: Error) -> ApiError {
    let server_managed =
        matches!(error.kind(), Some(ErrorKind::BadJson)) && error.to_string().starts_with("Cannot set ");
    let error = ApiError::from(error);
    if server_managed {
        error.with_status(StatusCode::METHOD_NOT_ALLOWED)
    } else {
        error
    }
}

fn parse(raw: &serde_json::value::RawValue) -> Result<Value> {
    serde_json::from_str(raw.get()).map_err(|err| ApiError::new(ErrorKind::BadJson, err.to_string()))
}

/// # `GET /_matrix/client/v3/user/{userId}/account_data/{type}`
pub async fn get_global_account_data_route(
    services: Services,
    request: Ruma<get_global_account_data::v3::Request>,
) -> Result<get_global_account_data::v3::Response> {
    let body = request.body;
    let content =
        services
            .account_data
            .get(&request.auth.user_id, &body.user_id, None, &body.event_type.to_string())?;
    Ok(get_global_account_data::v3::Response::new(Raw::from_json(to_raw(
        &content,
    )?)))
}

/// # `PUT /_matrix/client/v3/user/{userId}/account_data/{type}`
pub async fn set_global_account_data_route(
    services: Services,
    request: Ruma<set_global_account_data::v3::Request>,
) -> Result<set_global_account_data::v3::Response> {
    let body = request.body;
    let content = parse(body.data.json())?;
    services
        .account_data
        .set(
            &request.auth.user_id,
            &body.user_id,
            None,
            &body.event_type.to_string(),
            content,
        )
        .map_err(refuse_server_managed)?;
    Ok(set_global_account_data::v3::Response::new())
}

/// # `GET /_matrix/client/v3/user/{userId}/rooms/{roomId}/account_data/{type}`
pub async fn get_room_account_data_route(
    services: Services,
    request: Ruma<get_room_account_data::v3::Request>,
) -> Result<get_room_account_data::v3::Response> {
    let body = request.body;
    let content = services.account_data.get(
        &request.auth.user_id,
        &body.user_id,
        Some(&body.room_id),
        &body.event_type.to_string(),
    )?;
    Ok(get_room_account_data::v3::Response::new(Raw::from_json(to_raw(
        &content,
    )?)))
}

/// # `PUT /_matrix/client/v3/user/{userId}/rooms/{roomId}/account_data/{type}`
pub async fn set_room_account_data_route(
    services: Services,
    request: Ruma<set_room_account_data::v3::Request>,
) -> Result<set_room_account_data::v3::Response> {
    let body = request.body;
    let content = parse(body.data.json())?;
    services
        .account_data
        .set(
            &request.auth.user_id,
            &body.user_id,
            Some(&body.room_id),
            &body.event_type.to_string(),
            content,
        )
        .map_err(refuse_server_managed)?;
    Ok(set_room_account_data::v3::Response::new())
}

pub(crate) fn to_raw(value: &Value) -> Result<Box<serde_json::value::RawValue>> {
    serde_json::value::to_raw_value(value)
        .map_err(|err| ApiError::from(Error::Internal(format!("account data did not serialize: {err}"))))
}
