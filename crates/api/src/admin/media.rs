//! Media administration: delete a media id or a user's uploads, quarantine, purge the cache
//! of remote media.

use accord_service::Services;
use axum::{
    Json,
    extract::{Path, Request, State},
    response::{IntoResponse, Response},
};
use ruma::{OwnedServerName, OwnedUserId, api::error::ErrorKind};
use serde::{Deserialize, Serialize};

use super::admin;
use crate::{ApiError, Result};

#[derive(Serialize)]
struct Deleted {
    deleted_media: Vec<String>,
    total: usize,
}

fn server(name: &str) -> Result<OwnedServerName> {
    OwnedServerName::try_from(name).map_err(|_| ApiError::new(ErrorKind::InvalidParam, "Not a server name"))
}

fn answer(result: Result<Response>) -> Response {
    result.unwrap_or_else(IntoResponse::into_response)
}

/// # `DELETE /_synapse/admin/v1/media/{serverName}/{mediaId}`
pub(crate) async fn delete_media_route(
    State(services): State<Services>,
    Path((server_name, media_id)): Path<(String, String)>,
    request: Request,
) -> Response {
    answer(
        async {
            admin(&services, &request.into_parts().0)?;
            let deleted = services.media.delete_media(&server(&server_name)?, &media_id).await?;
            if !deleted {
                return Err(ApiError::new(ErrorKind::NotFound, "No media with this id"));
            }
            Ok(Json(Deleted {
                deleted_media: vec![media_id],
                total: 1,
            })
            .into_response())
        }
        .await,
    )
}

/// # `DELETE /_synapse/admin/v1/users/{userId}/media`
pub(crate) async fn delete_user_media_route(
    State(services): State<Services>,
    Path(user_id): Path<String>,
    request: Request,
) -> Response {
    answer(
        async {
            admin(&services, &request.into_parts().0)?;
            let user_id =
                OwnedUserId::try_from(user_id).map_err(|_| ApiError::new(ErrorKind::InvalidParam, "Not a user id"))?;
            let deleted = services.media.delete_user_media(&user_id).await?;
            let total = deleted.len();
            Ok(Json(Deleted {
                deleted_media: deleted,
                total,
            })
            .into_response())
        }
        .await,
    )
}

/// # `POST /_synapse/admin/v1/media/quarantine/{serverName}/{mediaId}`
pub(crate) async fn quarantine_route(
    State(services): State<Services>,
    Path((server_name, media_id)): Path<(String, String)>,
    request: Request,
) -> Response {
    answer(
        async {
            admin(&services, &request.into_parts().0)?;
            services
                .media
                .set_quarantined(&server(&server_name)?, &media_id, true)?;
            Ok(Json(serde_json::Map::new()).into_response())
        }
        .await,
    )
}

/// # `POST /_synapse/admin/v1/media/unquarantine/{serverName}/{mediaId}`
pub(crate) async fn unquarantine_route(
    State(services): State<Services>,
    Path((server_name, media_id)): Path<(String, String)>,
    request: Request,
) -> Response {
    answer(
        async {
            admin(&services, &request.into_parts().0)?;
            services
                .media
                .set_quarantined(&server(&server_name)?, &media_id, false)?;
            Ok(Json(serde_json::Map::new()).into_response())
        }
        .await,
    )
}

#[derive(Deserialize)]
struct PurgeQuery {
    before_ts: u64,
}

#[derive(Serialize)]
struct Purged {
    deleted: usize,
}

/// # `POST /_synapse/admin/v1/purge_media_cache?before_ts=<ms>`
pub(crate) async fn purge_media_cache_route(State(services): State<Services>, request: Request) -> Response {
    answer(
        async {
            let parts = request.into_parts().0;
            admin(&services, &parts)?;
            let PurgeQuery { before_ts } = serde_urlencoded::from_str(parts.uri.query().unwrap_or_default())
                .map_err(|_| ApiError::new(ErrorKind::MissingParam, "before_ts (ms since the epoch) is required"))?;
            let deleted = services.media.purge_remote_cache(before_ts).await?;
            Ok(Json(Purged { deleted }).into_response())
        }
        .await,
    )
}
