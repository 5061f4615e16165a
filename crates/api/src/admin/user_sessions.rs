//! A user's sessions in Synapse's admin API shape: whois, devices (list, read, rename, make,
//! delete), joined rooms, and logging in as the user.

use accord_service::{Services, devices::DeviceRecord};
use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use ruma::{OwnedDeviceId, UserId, api::error::ErrorKind};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::request::{AdminRequest, path_user};
use crate::{ApiError, Result};

/// # `GET /_synapse/admin/v1/whois/{userId}` (and the spec's `/_matrix/client/v3/admin/whois`)
pub(crate) async fn whois_route(
    State(services): State<Services>,
    Path(user): Path<String>,
    _request: AdminRequest,
) -> Result<Response> {
    let user_id = path_user(&user)?;
    let mut devices = Map::new();
    for session in services.admin.whois(&user_id)? {
        let mut connection = json!({ "ip": session.ip, "last_seen": session.last_seen });
        // Accord does not keep user agents.
        connection["user_agent"] = Value::Null;
        devices.insert(
            session.device_id.to_string(),
            json!({ "sessions": [{ "connections": [connection] }] }),
        );
    }
    Ok(Json(json!({ "user_id": user_id, "devices": devices })).into_response())
}

fn device_json(user_id: &UserId, device_id: &str, device: &DeviceRecord) -> Value {
    let mut answer = json!({
        "device_id": device_id,
        "user_id": user_id,
        "last_seen_ip": device.last_seen_ip,
        "last_seen_ts": device.last_seen_ts,
        "last_seen_user_agent": Value::Null,
    });
    if let Some(name) = &device.display_name {
        answer["display_name"] = json!(name);
    }
    answer
}

/// The user must have an account here: 404 otherwise, 400 for another server's user.
fn known_user(services: &Services, raw: &str) -> Result<ruma::OwnedUserId> {
    let user_id = path_user(raw)?;
    services.admin.user(&user_id)?;
    Ok(user_id)
}

#[derive(Deserialize)]
struct NewDevice {
    device_id: Option<Value>,
}

/// # `GET|POST /_synapse/admin/v2/users/{userId}/devices`
pub(crate) async fn devices_route(
    State(services): State<Services>,
    method: axum::http::Method,
    Path(user): Path<String>,
    request: AdminRequest,
) -> Result<Response> {
    let user_id = known_user(&services, &user)?;
    if method == axum::http::Method::POST {
        let body: NewDevice = request.required_json()?;
        let device_id = match body.device_id {
            Some(Value::String(id)) if !id.is_empty() => OwnedDeviceId::from(id),
            Some(_) => return Err(ApiError::new(ErrorKind::InvalidParam, "device_id must be a string")),
            None => return Err(ApiError::new(ErrorKind::MissingParam, "Missing device_id")),
        };
        services.admin.create_device(request.admin_id(), &user_id, &device_id)?;
        return Ok((StatusCode::CREATED, Json(json!({}))).into_response());
    }
    let devices: Vec<Value> = services
        .devices
        .list(&user_id)?
        .iter()
        .map(|(device_id, device)| device_json(&user_id, device_id.as_str(), device))
        .collect();
    Ok(Json(json!({ "total": devices.len(), "devices": devices })).into_response())
}

#[derive(Default, Deserialize)]
struct RenameBody {
    display_name: Option<String>,
}

/// # `GET|PUT|DELETE /_synapse/admin/v2/users/{userId}/devices/{deviceId}`
pub(crate) async fn device_route(
    State(services): State<Services>,
    method: axum::http::Method,
    Path((user, device)): Path<(String, String)>,
    request: AdminRequest,
) -> Result<Response> {
    let user_id = known_user(&services, &user)?;
    let device_id = OwnedDeviceId::from(device);
    match method {
        axum::http::Method::GET => {
            let record = services.devices.get(&user_id, &device_id)?;
            Ok(Json(device_json(&user_id, device_id.as_str(), &record)).into_response())
        }
        axum::http::Method::PUT => {
            let body: RenameBody = request.json()?;
            if body.display_name.is_some() {
                services.devices.rename(&user_id, &device_id, body.display_name)?;
            } else {
                services.devices.get(&user_id, &device_id)?;
            }
            Ok(Json(json!({})).into_response())
        }
        _ => {
            services
                .devices
                .delete_by_admin(request.admin_id(), &user_id, std::slice::from_ref(&device_id))?;
            Ok(Json(json!({})).into_response())
        }
    }
}

#[derive(Deserialize)]
struct DeleteDevicesBody {
    devices: Option<Vec<OwnedDeviceId>>,
}

/// # `POST /_synapse/admin/v2/users/{userId}/delete_devices`
pub(crate) async fn delete_devices_route(
    State(services): State<Services>,
    Path(user): Path<String>,
    request: AdminRequest,
) -> Result<Response> {
    let user_id = known_user(&services, &user)?;
    let body: DeleteDevicesBody = request.required_json()?;
    let devices = body
        .devices
        .ok_or_else(|| ApiError::new(ErrorKind::MissingParam, "`devices` is required"))?;
    services
        .devices
        .delete_by_admin(request.admin_id(), &user_id, &devices)?;
    Ok(Json(json!({})).into_response())
}

/// # `GET /_synapse/admin/v1/users/{userId}/joined_rooms`: of remote users too, the rooms this
/// server shares with them.
pub(crate) async fn joined_rooms_route(
    State(services): State<Services>,
    Path(user): Path<String>,
    _request: AdminRequest,
) -> Result<Response> {
    let user_id = path_user(&user)?;
    let rooms = services.rooms.joined_rooms(&user_id)?;
    Ok(Json(json!({ "total": rooms.len(), "joined_rooms": rooms })).into_response())
}

#[derive(Default, Deserialize)]
struct LoginAsBody {
    valid_until_ms: Option<u64>,
}

/// # `POST /_synapse/admin/v1/users/{userId}/login`
pub(crate) async fn login_as_route(
    State(services): State<Services>,
    Path(user): Path<String>,
    request: AdminRequest,
) -> Result<Response> {
    let user_id = path_user(&user)?;
    let body: LoginAsBody = request.json()?;
    let token = services
        .admin
        .login_as(request.admin_id(), &user_id, body.valid_until_ms)?;
    Ok(Json(json!({ "access_token": token })).into_response())
}

/// # `GET /_accord/admin/v1/users/{userId}/export`: everything Accord holds about the user,
/// as a gzipped tar archive (see `accord_service::data_export`).
pub(crate) async fn export_route(
    State(services): State<Services>,
    Path(user): Path<String>,
    request: AdminRequest,
) -> Result<Response> {
    let user_id = path_user(&user)?;
    let (archive, _) = services.export_user_data(request.admin_id(), &user_id).await?;
    let name = format!("attachment; filename=\"{}-export.tar.gz\"", user_id.localpart());
    // Streamed from the temporary file, which goes when the stream is dropped.
    let body = axum::body::Body::from_stream(tokio_util::io::ReaderStream::new(tokio::fs::File::from_std(archive)));
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "application/gzip".to_owned()),
            (axum::http::header::CONTENT_DISPOSITION, name),
        ],
        body,
    )
        .into_response())
}
