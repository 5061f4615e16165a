//! Downloads and thumbnails: `/_matrix/client/v1/media/{download,thumbnail}` (access token
//! required) and the legacy unauthenticated `/_matrix/media/v3/{download,thumbnail}`.

use std::time::Duration;

use accord_media::Method;
use accord_service::{Services, media::Via};
use axum::{
    extract::{Path, Request, State},
    response::{IntoResponse, Response},
};
use ruma::api::error::ErrorKind;
use serde::Deserialize;

use super::respond::{file_response, media_server, query};
use crate::{ApiError, Result, extract::authenticate_parts};

/// The spec's default wait for a reserved id's upload.
const DEFAULT_TIMEOUT_MS: u64 = 20_000;

/// A download's path: server, id and the optional file name that replaces the stored one.
#[derive(Debug, Deserialize)]
pub(crate) struct MediaPath {
    server_name: String,
    media_id: String,
    file_name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct DownloadQuery {
    #[serde(default = "yes")]
    allow_remote: bool,
    #[serde(default = "default_timeout")]
    timeout_ms: u64,
}

impl Default for DownloadQuery {
    fn default() -> Self {
        Self {
            allow_remote: true,
            timeout_ms: DEFAULT_TIMEOUT_MS,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct ThumbnailQuery {
    width: Option<u32>,
    height: Option<u32>,
    method: Option<String>,
    #[serde(default = "yes")]
    allow_remote: bool,
    timeout_ms: Option<u64>,
}

fn yes() -> bool {
    true
}

fn default_timeout() -> u64 {
    DEFAULT_TIMEOUT_MS
}

/// # `GET /_matrix/client/v1/media/download/{serverName}/{mediaId}[/{fileName}]`
pub(crate) async fn download_route(
    State(services): State<Services>,
    Path(path): Path<MediaPath>,
    request: Request,
) -> Response {
    let (parts, _) = request.into_parts();
    let result = async {
        authenticate_parts(&services, &parts)?;
        let DownloadQuery { timeout_ms, .. } = query(&parts)?;
        download(&services, &path, Via::Authenticated, timeout_ms).await
    };
    result.await.unwrap_or_else(IntoResponse::into_response)
}

/// # `GET /_matrix/media/v3/download/{serverName}/{mediaId}[/{fileName}]`
pub(crate) async fn legacy_download_route(
    State(services): State<Services>,
    Path(path): Path<MediaPath>,
    request: Request,
) -> Response {
    let (parts, _) = request.into_parts();
    let result = async {
        let DownloadQuery {
            allow_remote,
            timeout_ms,
        } = query(&parts)?;
        download(&services, &path, Via::Legacy { allow_remote }, timeout_ms).await
    };
    result.await.unwrap_or_else(IntoResponse::into_response)
}

async fn download(services: &Services, path: &MediaPath, via: Via, timeout_ms: u64) -> Result<Response> {
    let server = media_server(&path.server_name)?;
    let file = services
        .media
        .download(&server, &path.media_id, via, Duration::from_millis(timeout_ms))
        .await?;
    Ok(file_response(file, path.file_name.as_deref()))
}

/// # `GET /_matrix/client/v1/media/thumbnail/{serverName}/{mediaId}`
pub(crate) async fn thumbnail_route(
    State(services): State<Services>,
    Path(path): Path<MediaPath>,
    request: Request,
) -> Response {
    let (parts, _) = request.into_parts();
    let result = async {
        authenticate_parts(&services, &parts)?;
        thumbnail(&services, &path, &parts, true).await
    };
    result.await.unwrap_or_else(IntoResponse::into_response)
}

/// # `GET /_matrix/media/v3/thumbnail/{serverName}/{mediaId}`
pub(crate) async fn legacy_thumbnail_route(
    State(services): State<Services>,
    Path(path): Path<MediaPath>,
    request: Request,
) -> Response {
    let (parts, _) = request.into_parts();
    thumbnail(&services, &path, &parts, false)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn thumbnail(
    services: &Services,
    path: &MediaPath,
    parts: &http::request::Parts,
    authenticated: bool,
) -> Result<Response> {
    let ThumbnailQuery {
        width,
        height,
        method,
        allow_remote,
        timeout_ms,
    } = query(parts)?;
    let (Some(width), Some(height)) = (width, height) else {
        return Err(ApiError::new(ErrorKind::MissingParam, "width and height are required"));
    };
    let method = match method.as_deref() {
        None | Some("scale") => Method::Scale,
        Some("crop") => Method::Crop,
        Some(other) => {
            return Err(ApiError::new(
                ErrorKind::InvalidParam,
                format!("Unknown thumbnail method {other:?}; use crop or scale"),
            ));
        }
    };
    let via = if authenticated {
        Via::Authenticated
    } else {
        Via::Legacy { allow_remote }
    };
    let server = media_server(&path.server_name)?;
    let file = services
        .media
        .thumbnail(
            &server,
            &path.media_id,
            (width, height, method),
            via,
            Duration::from_millis(timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS)),
        )
        .await?;
    let name = if file.content_type == "image/jpeg" {
        "thumbnail.jpg"
    } else {
        "thumbnail.png"
    };
    Ok(file_response(file, Some(name)))
}
