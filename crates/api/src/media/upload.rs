//! Uploads: `POST /_matrix/media/v3/upload`, the asynchronous `POST /_matrix/media/v1/create`
//! and `PUT /_matrix/media/v3/upload/{serverName}/{mediaId}`. The body streams into the store.

use accord_media::BodyStream;
use accord_service::{Services, media::UploadMeta};
use axum::{
    extract::{Path, Request, State},
    response::{IntoResponse, Response},
};
use futures::TryStreamExt;
use ruma::{
    MilliSecondsSinceUnixEpoch, UInt,
    api::client::media::{create_content::v3 as create_content, create_mxc_uri::v1 as create_mxc},
};
use serde::Deserialize;

use super::respond::{json, media_server, query};
use crate::{ApiError, Result, Ruma, extract::authenticate_parts};

/// The query of an upload.
#[derive(Debug, Default, Deserialize)]
struct UploadQuery {
    filename: Option<String>,
}

/// What the headers and query say of the file, and its body as a stream.
fn upload_parts(parts: &http::request::Parts, body: axum::body::Body) -> Result<(UploadMeta, BodyStream)> {
    let UploadQuery { filename } = query(parts)?;
    let header = |name| {
        parts
            .headers
            .get(name)
            .and_then(|v: &http::HeaderValue| v.to_str().ok())
    };
    let declared_length = match header(http::header::CONTENT_LENGTH) {
        Some(text) => Some(text.trim().parse::<u64>().map_err(|_| {
            ApiError::new(
                ruma::api::error::ErrorKind::InvalidParam,
                "Content-Length is not a number",
            )
        })?),
        None => None,
    };
    let meta = UploadMeta {
        filename: filename.filter(|name| !name.is_empty()),
        content_type: header(http::header::CONTENT_TYPE).map(str::to_owned),
        declared_length,
    };
    let stream: BodyStream = Box::pin(body.into_data_stream().map_err(std::io::Error::other));
    Ok((meta, stream))
}

/// # `POST /_matrix/media/v3/upload`
pub(crate) async fn create_content_route(State(services): State<Services>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let result = async {
        let user = authenticate_parts(&services, &parts)?;
        let (meta, stream) = upload_parts(&parts, body)?;
        let content_uri = services.media.upload(&user, meta, stream).await?;
        Ok::<_, ApiError>(json(create_content::Response::new(content_uri)))
    };
    result.await.unwrap_or_else(IntoResponse::into_response)
}

/// # `PUT /_matrix/media/v3/upload/{serverName}/{mediaId}`
pub(crate) async fn create_content_async_route(
    State(services): State<Services>,
    Path((server_name, media_id)): Path<(String, String)>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let result = async {
        let user = authenticate_parts(&services, &parts)?;
        let server = media_server(&server_name)?;
        let (meta, stream) = upload_parts(&parts, body)?;
        services
            .media
            .upload_reserved(&user, &server, &media_id, meta, stream)
            .await?;
        // ruma's `Response {}` here has no constructor outside ruma; its body is `{}`.
        Ok::<_, ApiError>(axum::Json(serde_json::Map::new()).into_response())
    };
    result.await.unwrap_or_else(IntoResponse::into_response)
}

/// # `POST /_matrix/media/v1/create`
pub(crate) async fn create_mxc_uri_route(
    services: Services,
    request: Ruma<create_mxc::Request>,
) -> Result<create_mxc::Response> {
    let (content_uri, expires_ms) = services.media.create(&request.auth)?;
    let mut response = create_mxc::Response::new(content_uri);
    response.unused_expires_at = UInt::try_from(expires_ms).ok().map(MilliSecondsSinceUnixEpoch);
    Ok(response)
}
