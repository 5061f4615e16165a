//! Rooms in Synapse's admin API shape: list, details, members, state, messages, forward
//! extremities, block, make room admin, delete (shut down).

use accord_service::{Direction, Services, rooms::AdminRoom};
use axum::{
    Json,
    extract::{Path, State},
    response::{IntoResponse, Response},
};
use ruma::api::error::ErrorKind;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    request::{AdminRequest, path_room, path_user},
    user_accounts::parse_dir,
};
use crate::{ApiError, Result};

#[derive(Deserialize)]
struct ListQuery {
    from: Option<usize>,
    limit: Option<usize>,
    order_by: Option<String>,
    dir: Option<String>,
    search_term: Option<String>,
}

/// Orders `rooms` by Synapse's `order_by`; numbers largest first, as Synapse sorts them.
fn order_rooms(rooms: &mut [AdminRoom], order_by: &str) -> Result<()> {
    let key = |room: &AdminRoom| -> Value {
        match order_by {
            "name" | "alphabetical" => json!(room.name.clone().unwrap_or_default().to_lowercase()),
            "canonical_alias" => json!(room.canonical_alias),
            "joined_members" | "size" => json!(-(room.joined_members as i64)),
            "joined_local_members" => json!(-(room.joined_local_members as i64)),
            "state_events" => json!(-(room.state_events as i64)),
            "version" => json!(room.version),
            "creator" => json!(room.creator),
            "encryption" => json!(room.encryption),
            "federatable" => json!(room.federatable),
            "public" => json!(room.public),
            "join_rules" => json!(room.join_rules),
            "guest_access" => json!(room.guest_access),
            "history_visibility" => json!(room.history_visibility),
            _ => Value::Null,
        }
    };
    const KNOWN: &[&str] = &[
        "name",
        "alphabetical",
        "canonical_alias",
        "joined_members",
        "size",
        "joined_local_members",
        "state_events",
        "version",
        "creator",
        "encryption",
        "federatable",
        "public",
        "join_rules",
        "guest_access",
        "history_visibility",
    ];
    if !KNOWN.contains(&order_by) {
        return Err(ApiError::new(
            ErrorKind::InvalidParam,
            format!("Unknown order_by {order_by:?}"),
        ));
    }
    rooms.sort_by(|a, b| compare(&key(a), &key(b)).then_with(|| a.room_id.cmp(&b.room_id)));
    Ok(())
}

fn compare(a: &Value, b: &Value) -> std::cmp::Ordering {
    match (a, b) {
        (Value::Number(a), Value::Number(b)) => a.as_i64().cmp(&b.as_i64()),
        (Value::Bool(a), Value::Bool(b)) => a.cmp(b),
        (Value::String(a), Value::String(b)) => a.cmp(b),
        (Value::Null, Value::Null) => std::cmp::Ordering::Equal,
        (Value::Null, _) => std::cmp::Ordering::Greater,
        (_, Value::Null) => std::cmp::Ordering::Less,
        _ => std::cmp::Ordering::Equal,
    }
}

fn matches_search(room: &AdminRoom, term: &str) -> bool {
    let lower = term.to_lowercase();
    room.name
        .as_ref()
        .is_some_and(|name| name.to_lowercase().contains(&lower))
        || room
            .canonical_alias
            .as_ref()
            .is_some_and(|alias| alias.to_lowercase().contains(&lower))
        || room.room_id == term
}

/// # `GET /_synapse/admin/v1/rooms`
pub(crate) async fn list_route(State(services): State<Services>, request: AdminRequest) -> Result<Response> {
    let query: ListQuery = request.query()?;
    if query.search_term.as_deref() == Some("") {
        return Err(ApiError::new(ErrorKind::InvalidParam, "search_term cannot be empty"));
    }
    let mut rooms = Vec::new();
    for room_id in services.rooms.admin_room_ids()? {
        let room = services.rooms.admin_room(&room_id)?;
        if query
            .search_term
            .as_deref()
            .is_none_or(|term| matches_search(&room, term))
        {
            rooms.push(room);
        }
    }
    order_rooms(&mut rooms, query.order_by.as_deref().unwrap_or("name"))?;
    if parse_dir(query.dir.as_deref())? {
        rooms.reverse();
    }
    let total = rooms.len();
    let from = query.from.unwrap_or(0);
    let limit = query.limit.unwrap_or(100);
    let page: Vec<AdminRoom> = rooms.into_iter().skip(from).take(limit).collect();
    let mut answer = json!({ "rooms": page, "offset": from, "total_rooms": total });
    if from.saturating_add(limit) < total {
        answer["next_batch"] = json!(from + limit);
    }
    if from > 0 {
        answer["prev_batch"] = json!(from.saturating_sub(limit));
    }
    Ok(Json(answer).into_response())
}

/// # `GET /_synapse/admin/v1/rooms/{roomId}`
pub(crate) async fn details_route(
    State(services): State<Services>,
    Path(room): Path<String>,
    _request: AdminRequest,
) -> Result<Response> {
    let room = services.rooms.admin_room(&path_room(&room)?)?;
    Ok(Json(room).into_response())
}

/// # `GET /_synapse/admin/v1/rooms/{roomId}/members`
pub(crate) async fn members_route(
    State(services): State<Services>,
    Path(room): Path<String>,
    _request: AdminRequest,
) -> Result<Response> {
    let members = services.rooms.admin_members(&path_room(&room)?)?;
    Ok(Json(json!({ "total": members.len(), "members": members })).into_response())
}

#[derive(Deserialize)]
struct StateQuery {
    #[serde(rename = "type")]
    kind: Option<String>,
}

/// # `GET /_synapse/admin/v1/rooms/{roomId}/state`
pub(crate) async fn state_route(
    State(services): State<Services>,
    Path(room): Path<String>,
    request: AdminRequest,
) -> Result<Response> {
    let query: StateQuery = request.query()?;
    let state = services.rooms.admin_state(&path_room(&room)?, query.kind.as_deref())?;
    Ok(Json(json!({ "state": state })).into_response())
}

#[derive(Deserialize)]
struct MessagesQuery {
    from: Option<String>,
    limit: Option<usize>,
    dir: Option<String>,
}

/// # `GET /_synapse/admin/v1/rooms/{roomId}/messages`: as stored, whatever the admin's
/// membership.
pub(crate) async fn messages_route(
    State(services): State<Services>,
    Path(room): Path<String>,
    request: AdminRequest,
) -> Result<Response> {
    let query: MessagesQuery = request.query()?;
    let direction = if parse_dir(query.dir.as_deref().or(Some("b")))? {
        Direction::Backward
    } else {
        Direction::Forward
    };
    let limit = query.limit.unwrap_or(10).clamp(1, 1000);
    let page = services
        .rooms
        .admin_messages(&path_room(&room)?, query.from.as_deref(), direction, limit)?;
    let mut answer = json!({ "chunk": page.chunk, "start": page.start });
    if let Some(end) = page.end {
        answer["end"] = json!(end);
    }
    Ok(Json(answer).into_response())
}

/// # `GET|DELETE /_synapse/admin/v1/rooms/{roomId}/forward_extremities`: the list, or
/// `{"deleted": n}` after dropping all but the deepest.
pub(crate) async fn forward_extremities_route(
    State(services): State<Services>,
    method: axum::http::Method,
    Path(room): Path<String>,
    request: AdminRequest,
) -> Result<Response> {
    let room_id = path_room(&room)?;
    if method == axum::http::Method::DELETE {
        let deleted = services
            .rooms
            .delete_forward_extremities(request.admin_id(), &room_id)
            .await?;
        return Ok(Json(json!({ "deleted": deleted })).into_response());
    }
    let extremities = services.rooms.admin_forward_extremities(&room_id)?;
    Ok(Json(json!({ "count": extremities.len(), "results": extremities })).into_response())
}

#[derive(Deserialize)]
struct BlockBody {
    block: Option<bool>,
}

/// # `GET|PUT /_synapse/admin/v1/rooms/{roomId}/block`
pub(crate) async fn block_route(
    State(services): State<Services>,
    method: axum::http::Method,
    Path(room): Path<String>,
    request: AdminRequest,
) -> Result<Response> {
    let room_id = path_room(&room)?;
    if method == axum::http::Method::GET {
        let block = services.rooms.room_block(&room_id)?;
        let mut answer = json!({ "block": block.is_some() });
        if let Some(block) = block {
            answer["user_id"] = json!(block.user_id);
        }
        return Ok(Json(answer).into_response());
    }
    let body: BlockBody = request.required_json()?;
    let on = body
        .block
        .ok_or_else(|| ApiError::new(ErrorKind::MissingParam, "`block` (true or false) is required"))?;
    let blocked = services.rooms.set_room_block(request.admin_id(), &room_id, on)?;
    Ok(Json(json!({ "block": blocked })).into_response())
}

#[derive(Default, Deserialize)]
struct MakeAdminBody {
    user_id: Option<String>,
}

/// # `POST /_synapse/admin/v1/rooms/{roomId}/make_room_admin`: the admin, or `user_id`.
pub(crate) async fn make_room_admin_route(
    State(services): State<Services>,
    Path(room): Path<String>,
    request: AdminRequest,
) -> Result<Response> {
    let room_id = path_room(&room)?;
    let body: MakeAdminBody = request.json()?;
    let target = match body.user_id {
        Some(user) => path_user(&user)?,
        None => request.admin_id().to_owned(),
    };
    services
        .rooms
        .make_room_admin(request.admin_id(), &room_id, &target)
        .await?;
    Ok(Json(json!({})).into_response())
}

#[derive(Default, Deserialize)]
struct PurgeBody {
    #[serde(default)]
    delete_local_events: bool,
    purge_up_to_event_id: Option<ruma::OwnedEventId>,
    purge_up_to_ts: Option<u64>,
}

/// # `POST /_synapse/admin/v1/purge_history/{roomId}[/{eventId}]`: `{"purge_id"}`.
pub(crate) async fn purge_history_route(
    State(services): State<Services>,
    Path(params): Path<Vec<String>>,
    request: AdminRequest,
) -> Result<Response> {
    use accord_service::purge_history::PurgePoint;
    let room_id = path_room(params.first().map(String::as_str).unwrap_or_default())?;
    let body: PurgeBody = request.json()?;
    let point = match (params.get(1), body.purge_up_to_event_id, body.purge_up_to_ts) {
        (Some(event_id), _, _) => PurgePoint::Event(
            ruma::OwnedEventId::try_from(event_id.as_str())
                .map_err(|err| ApiError::new(ErrorKind::InvalidParam, format!("{event_id}: {err}")))?,
        ),
        (None, Some(event_id), _) => PurgePoint::Event(event_id),
        (None, None, Some(ts)) => PurgePoint::Timestamp(ts),
        (None, None, None) => {
            return Err(ApiError::new(
                ErrorKind::BadJson,
                "must specify purge_up_to_event_id or purge_up_to_ts",
            ));
        }
    };
    let purge_id = services.start_purge_history(request.admin_id(), room_id, point, body.delete_local_events)?;
    Ok(Json(json!({ "purge_id": purge_id })).into_response())
}

/// # `GET /_synapse/admin/v1/purge_history_status/{purgeId}`
pub(crate) async fn purge_status_route(
    State(services): State<Services>,
    Path(purge_id): Path<String>,
    _request: AdminRequest,
) -> Result<Response> {
    let status = services
        .purges
        .get(&purge_id)
        .ok_or_else(|| ApiError::new(ErrorKind::NotFound, format!("purge id '{purge_id}' not found")))?;
    Ok(Json(status).into_response())
}
