//! Accounts in Synapse's admin API shape: list, query, create or modify, deactivate, reset
//! password, admin flag, shadow ban, username availability.

use accord_service::{
    Services,
    admin::{UserChanges, UserListQuery, UserOrder},
};
use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use ruma::api::error::ErrorKind;
use serde::Deserialize;
use serde_json::{Value, json};

use super::request::{AdminRequest, path_user};
use crate::{ApiError, Result};

/// `GET /_synapse/admin/v2/users`'s query.
#[derive(Deserialize)]
struct ListQuery {
    from: Option<String>,
    limit: Option<usize>,
    #[serde(default)]
    deactivated: bool,
    #[serde(default)]
    locked: bool,
    admins: Option<bool>,
    user_id: Option<String>,
    name: Option<String>,
    order_by: Option<String>,
    dir: Option<String>,
}

/// # `GET /_synapse/admin/v2/users`
pub(crate) async fn list_route(State(services): State<Services>, request: AdminRequest) -> Result<Response> {
    let query: ListQuery = request.query()?;
    let from = match &query.from {
        Some(token) => token.parse().map_err(|_| {
            ApiError::new(
                ErrorKind::InvalidParam,
                "`from` must be a next_token of an earlier page",
            )
        })?,
        None => 0,
    };
    let list = UserListQuery {
        from,
        limit: query.limit.unwrap_or(100),
        deactivated: query.deactivated,
        locked: query.locked,
        admins: query.admins,
        user_id: query.user_id,
        name: query.name,
        order_by: query
            .order_by
            .as_deref()
            .map(UserOrder::parse)
            .transpose()?
            .unwrap_or_default(),
        backward: parse_dir(query.dir.as_deref())?,
    };
    let (users, total) = services.admin.list_users(&list)?;
    let mut answer = json!({ "users": users, "total": total });
    if list.from.saturating_add(list.limit) < total {
        answer["next_token"] = json!((list.from + list.limit).to_string());
    }
    Ok(Json(answer).into_response())
}

/// `dir=f` (default) or `dir=b`; whether backward.
pub(crate) fn parse_dir(dir: Option<&str>) -> Result<bool> {
    match dir {
        None | Some("f") => Ok(false),
        Some("b") => Ok(true),
        Some(other) => Err(ApiError::new(
            ErrorKind::InvalidParam,
            format!("Unknown dir {other:?}: use f or b"),
        )),
    }
}

/// # `GET /_synapse/admin/v2/users/{userId}`
pub(crate) async fn get_route(
    State(services): State<Services>,
    Path(user): Path<String>,
    _request: AdminRequest,
) -> Result<Response> {
    let user = services.admin.user(&path_user(&user)?)?;
    Ok(Json(user).into_response())
}

/// `PUT /_synapse/admin/v2/users/{userId}`'s body. A field that is present but `null` clears
/// it where that means something (display name, avatar, user type).
#[derive(Default, Deserialize)]
struct UpsertBody {
    password: Option<String>,
    logout_devices: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    displayname: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    avatar_url: Option<Option<String>>,
    admin: Option<bool>,
    deactivated: Option<bool>,
    locked: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    user_type: Option<Option<String>>,
    threepids: Option<Vec<Value>>,
    external_ids: Option<Vec<Value>>,
}

/// Tells a field sent as `null` (`Some(None)`) from one left out (`None`).
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

/// # `PUT /_synapse/admin/v2/users/{userId}`: 201 when created, 200 when changed.
pub(crate) async fn put_route(
    State(services): State<Services>,
    Path(user): Path<String>,
    request: AdminRequest,
) -> Result<Response> {
    let user_id = path_user(&user)?;
    let body: UpsertBody = request.json()?;
    // Accord keeps no third-party ids, and links identity-provider accounts at login: both
    // lists are accepted empty (tools send them back as they read them) and refused otherwise.
    for (name, list) in [("threepids", &body.threepids), ("external_ids", &body.external_ids)] {
        if list.as_ref().is_some_and(|list| !list.is_empty()) {
            return Err(ApiError::new(
                ErrorKind::InvalidParam,
                format!("Accord does not manage `{name}` through the admin API; send an empty list or leave it out"),
            ));
        }
    }
    let changes = UserChanges {
        password: body.password,
        logout_devices: body.logout_devices.unwrap_or(true),
        displayname: body.displayname,
        avatar_url: body.avatar_url,
        admin: body.admin,
        deactivated: body.deactivated,
        locked: body.locked,
        user_type: body.user_type,
    };
    let (created, user) = services
        .admin
        .upsert_user(request.admin_id(), &user_id, changes)
        .await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(user)).into_response())
}

#[derive(Default, Deserialize)]
struct DeactivateBody {
    #[serde(default)]
    erase: bool,
}

/// # `POST /_synapse/admin/v1/deactivate/{userId}`
pub(crate) async fn deactivate_route(
    State(services): State<Services>,
    Path(user): Path<String>,
    request: AdminRequest,
) -> Result<Response> {
    let user_id = path_user(&user)?;
    let body: DeactivateBody = request.json()?;
    if body.erase {
        services.erase_user(request.admin_id(), &user_id).await?;
    } else {
        services.admin.deactivate(request.admin_id(), &user_id)?;
    }
    // Accord binds no third-party ids at identity servers, so there is nothing to unbind.
    Ok(Json(json!({ "id_server_unbind_result": "success" })).into_response())
}

#[derive(Deserialize)]
struct ResetPasswordBody {
    new_password: String,
    logout_devices: Option<bool>,
}

/// # `POST /_synapse/admin/v1/reset_password/{userId}`
pub(crate) async fn reset_password_route(
    State(services): State<Services>,
    Path(user): Path<String>,
    request: AdminRequest,
) -> Result<Response> {
    let user_id = path_user(&user)?;
    let value: Value = request.required_json()?;
    if value.get("new_password").is_none() {
        return Err(ApiError::new(ErrorKind::MissingParam, "`new_password` is required"));
    }
    let body: ResetPasswordBody = request.required_json()?;
    services
        .admin
        .reset_password(
            request.admin_id(),
            &user_id,
            body.new_password,
            body.logout_devices.unwrap_or(true),
        )
        .await?;
    Ok(Json(json!({})).into_response())
}

#[derive(Deserialize)]
struct AdminFlagBody {
    admin: Option<bool>,
}

/// # `GET|PUT /_synapse/admin/v1/users/{userId}/admin`
pub(crate) async fn admin_flag_route(
    State(services): State<Services>,
    method: axum::http::Method,
    Path(user): Path<String>,
    request: AdminRequest,
) -> Result<Response> {
    let user_id = path_user(&user)?;
    if method == axum::http::Method::GET {
        let user = services.admin.user(&user_id)?;
        return Ok(Json(json!({ "admin": user.admin })).into_response());
    }
    let body: AdminFlagBody = request.required_json()?;
    let on = body
        .admin
        .ok_or_else(|| ApiError::new(ErrorKind::MissingParam, "`admin` (true or false) is required"))?;
    services.admin.set_admin(request.admin_id(), &user_id, on)?;
    Ok(Json(json!({})).into_response())
}

/// # `POST|DELETE /_synapse/admin/v1/users/{userId}/shadow_ban`
pub(crate) async fn shadow_ban_route(
    State(services): State<Services>,
    method: axum::http::Method,
    Path(user): Path<String>,
    request: AdminRequest,
) -> Result<Response> {
    let user_id = path_user(&user)?;
    let on = method == axum::http::Method::POST;
    services.admin.set_shadow_ban(request.admin_id(), &user_id, on)?;
    Ok(Json(json!({})).into_response())
}

#[derive(Deserialize)]
struct AvailableQuery {
    username: Option<String>,
}

/// # `GET /_synapse/admin/v1/username_available?username=`: registration need not be open.
pub(crate) async fn username_available_route(
    State(services): State<Services>,
    request: AdminRequest,
) -> Result<Response> {
    let query: AvailableQuery = request.query()?;
    let username = query
        .username
        .ok_or_else(|| ApiError::new(ErrorKind::MissingParam, "`username` is required"))?;
    services.accounts.check_username_available(&username)?;
    Ok(Json(json!({ "available": true })).into_response())
}
