//! Room deletion in Synapse's admin API shapes: `DELETE /_synapse/admin/v1/rooms/{roomId}`
//! (answers when done), the v2 form (answers a delete id at once) and the v2 status reads.

use accord_service::{
    Services,
    room_deletion::{DeleteOptions, report_json},
};
use axum::{
    Json,
    extract::{Path, State},
    response::{IntoResponse, Response},
};
use ruma::api::error::ErrorKind;
use serde::Deserialize;
use serde_json::json;

use super::request::{AdminRequest, path_room};
use crate::{ApiError, Result};

/// The request body. `room_name` and `message` only matter with `new_room_user_id`, which
/// Accord refuses (it makes no replacement room), so they are accepted and unused.
#[derive(Deserialize)]
struct DeleteBody {
    new_room_user_id: Option<String>,
    #[serde(default)]
    block: bool,
    /// Synapse's default: purge.
    #[serde(default = "purge_by_default")]
    purge: bool,
    #[serde(default)]
    force_purge: bool,
}

fn purge_by_default() -> bool {
    true
}

fn options(request: &AdminRequest) -> Result<DeleteOptions> {
    let body: DeleteBody = request.required_json()?;
    if body.new_room_user_id.is_some() {
        return Err(ApiError::new(
            ErrorKind::InvalidParam,
            "Accord doesn't make replacement rooms (`new_room_user_id`); leave it out",
        ));
    }
    Ok(DeleteOptions {
        block: body.block,
        purge: body.purge,
        force_purge: body.force_purge,
    })
}

/// # `DELETE /_synapse/admin/v1/rooms/{roomId}`: shuts the room down (and by default purges
/// it) and answers what the shutdown did.
pub(crate) async fn delete_route(
    State(services): State<Services>,
    Path(room): Path<String>,
    request: AdminRequest,
) -> Result<Response> {
    let room_id = path_room(&room)?;
    let options = options(&request)?;
    let report = services.delete_room(request.admin_id(), &room_id, options).await?;
    Ok(Json(report_json(&report)).into_response())
}

/// # `DELETE /_synapse/admin/v2/rooms/{roomId}`: `{"delete_id"}`; the work goes on in the
/// background.
pub(crate) async fn delete_v2_route(
    State(services): State<Services>,
    Path(room): Path<String>,
    request: AdminRequest,
) -> Result<Response> {
    let room_id = path_room(&room)?;
    let options = options(&request)?;
    let delete_id = services.start_room_deletion(request.admin_id(), room_id, options)?;
    Ok(Json(json!({ "delete_id": delete_id })).into_response())
}

/// # `GET /_synapse/admin/v2/rooms/{roomId}/delete_status`: `{"results": [task]}`.
pub(crate) async fn room_status_route(
    State(services): State<Services>,
    Path(room): Path<String>,
    _request: AdminRequest,
) -> Result<Response> {
    let room_id = path_room(&room)?;
    let tasks = services.room_deletions.of_room(&room_id);
    if tasks.is_empty() {
        return Err(ApiError::new(
            ErrorKind::NotFound,
            format!("No delete task for room_id '{room_id}' found"),
        ));
    }
    Ok(Json(json!({ "results": tasks })).into_response())
}

/// # `GET /_synapse/admin/v2/rooms/delete_status/{deleteId}`: one task.
pub(crate) async fn status_route(
    State(services): State<Services>,
    Path(delete_id): Path<String>,
    _request: AdminRequest,
) -> Result<Response> {
    let task = services
        .room_deletions
        .get(&delete_id)
        .ok_or_else(|| ApiError::new(ErrorKind::NotFound, format!("delete id '{delete_id}' not found")))?;
    Ok(Json(task).into_response())
}
