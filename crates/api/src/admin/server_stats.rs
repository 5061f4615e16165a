//! Federation destinations and statistics in Synapse's admin API shape.

use accord_service::Services;
use axum::{
    Json,
    extract::{Path, State},
    response::{IntoResponse, Response},
};
use ruma::{OwnedServerName, api::error::ErrorKind};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{request::AdminRequest, user_accounts::parse_dir};
use crate::{ApiError, Result};

#[derive(Deserialize)]
struct PageQuery {
    from: Option<String>,
    limit: Option<usize>,
    dir: Option<String>,
    order_by: Option<String>,
    destination: Option<String>,
    from_ts: Option<u64>,
    until_ts: Option<u64>,
    search_term: Option<String>,
}

impl PageQuery {
    fn from(&self) -> Result<usize> {
        match &self.from {
            None => Ok(0),
            Some(token) => token.parse().map_err(|_| {
                ApiError::new(
                    ErrorKind::InvalidParam,
                    "`from` must be a next_token of an earlier page",
                )
            }),
        }
    }
}

/// One page of `items` with Synapse's `total` and `next_token`.
fn page(items: Vec<Value>, query: &PageQuery, field: &str) -> Result<Response> {
    let total = items.len();
    let from = query.from()?;
    let limit = query.limit.unwrap_or(100);
    let mut items = items;
    if parse_dir(query.dir.as_deref())? {
        items.reverse();
    }
    let shown: Vec<Value> = items.into_iter().skip(from).take(limit).collect();
    let mut answer = json!({ field: shown, "total": total });
    if from.saturating_add(limit) < total {
        answer["next_token"] = json!((from + limit).to_string());
    }
    Ok(Json(answer).into_response())
}

fn server(raw: &str) -> Result<OwnedServerName> {
    OwnedServerName::try_from(raw).map_err(|err| ApiError::new(ErrorKind::InvalidParam, format!("{raw}: {err}")))
}

/// # `GET /_synapse/admin/v1/federation/destinations`
pub(crate) async fn destinations_route(State(services): State<Services>, request: AdminRequest) -> Result<Response> {
    let query: PageQuery = request.query()?;
    let mut destinations = services.destinations()?;
    if let Some(part) = &query.destination {
        destinations.retain(|status| status.destination.contains(part.as_str()));
    }
    match query.order_by.as_deref().unwrap_or("destination") {
        "destination" => {}
        "retry_last_ts" => destinations.sort_by_key(|status| status.retry_last_ts),
        "retry_interval" => destinations.sort_by_key(|status| status.retry_interval),
        "failure_ts" | "last_successful_stream_ordering" => {}
        other => {
            return Err(ApiError::new(
                ErrorKind::InvalidParam,
                format!("Unknown order_by {other:?}"),
            ));
        }
    }
    let items = destinations.iter().map(|status| json!(status)).collect();
    page(items, &query, "destinations")
}

/// # `GET /_synapse/admin/v1/federation/destinations/{destination}`
pub(crate) async fn destination_route(
    State(services): State<Services>,
    Path(destination): Path<String>,
    _request: AdminRequest,
) -> Result<Response> {
    Ok(Json(services.destination(&server(&destination)?)?).into_response())
}

/// # `GET /_synapse/admin/v1/federation/destinations/{destination}/rooms`
pub(crate) async fn destination_rooms_route(
    State(services): State<Services>,
    Path(destination): Path<String>,
    request: AdminRequest,
) -> Result<Response> {
    let query: PageQuery = request.query()?;
    let rooms = services.destination_rooms(&server(&destination)?)?;
    // Accord keeps no per-destination delivery position: the room's own is not Synapse's
    // stream ordering either, so 0 stands for "not tracked".
    let items = rooms
        .iter()
        .map(|room_id| json!({ "room_id": room_id, "stream_ordering": 0 }))
        .collect();
    page(items, &query, "rooms")
}

/// # `POST /_synapse/admin/v1/federation/destinations/{destination}/reset_connection`
pub(crate) async fn reset_connection_route(
    State(services): State<Services>,
    Path(destination): Path<String>,
    request: AdminRequest,
) -> Result<Response> {
    services.reset_destination(request.admin_id(), &server(&destination)?)?;
    Ok(Json(json!({})).into_response())
}

/// # `GET /_synapse/admin/v1/statistics/users/media`
pub(crate) async fn media_usage_route(State(services): State<Services>, request: AdminRequest) -> Result<Response> {
    let query: PageQuery = request.query()?;
    if query.search_term.as_deref() == Some("") {
        return Err(ApiError::new(ErrorKind::InvalidParam, "search_term cannot be empty"));
    }
    if let (Some(from), Some(until)) = (query.from_ts, query.until_ts)
        && until <= from
    {
        return Err(ApiError::new(ErrorKind::InvalidParam, "until_ts must be after from_ts"));
    }
    let mut usage = services.admin.media_usage(query.from_ts.unwrap_or(0), query.until_ts)?;
    if let Some(term) = &query.search_term {
        let term = term.to_lowercase();
        usage.retain(|user| {
            user.user_id.to_lowercase().contains(&term)
                || user
                    .displayname
                    .as_ref()
                    .is_some_and(|name| name.to_lowercase().contains(&term))
        });
    }
    match query.order_by.as_deref().unwrap_or("user_id") {
        "user_id" => usage.sort_by(|a, b| a.user_id.cmp(&b.user_id)),
        "displayname" => usage.sort_by(|a, b| a.displayname.cmp(&b.displayname)),
        "media_length" => usage.sort_by_key(|user| user.media_length),
        "media_count" => usage.sort_by_key(|user| user.media_count),
        other => {
            return Err(ApiError::new(
                ErrorKind::InvalidParam,
                format!("Unknown order_by {other:?}"),
            ));
        }
    }
    let items = usage.iter().map(|user| json!(user)).collect();
    page(items, &query, "users")
}

/// # `GET /_synapse/admin/v1/statistics/database/rooms`: the ten largest rooms.
pub(crate) async fn room_sizes_route(State(services): State<Services>, _request: AdminRequest) -> Result<Response> {
    Ok(Json(json!({ "rooms": services.admin.largest_rooms()? })).into_response())
}
