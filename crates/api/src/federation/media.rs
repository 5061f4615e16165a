//! Media for other servers (spec: server-server API "Content repository"):
//! `GET /_matrix/federation/v1/media/download/{mediaId}` and `.../thumbnail/{mediaId}`, this
//! server's own files only, answered as `multipart/mixed` (an empty metadata part, then the
//! file). The answer is streamed from the store as it is sent (`accord_media::multipart_body`):
//! ruma's response type for these endpoints holds the whole file in memory, so only the
//! request side (path, query, the signature check) goes through ruma.

use std::time::Duration;

use accord_media::Method;
use accord_service::{
    Services,
    media::{MediaFile, Via},
};
use axum::response::Response;
use http::{HeaderValue, StatusCode, header};
use ruma::{
    api::federation::authenticated_media::{get_content::v1 as download, get_content_thumbnail::v1 as thumbnail},
    media::Method as RumaMethod,
};

use crate::{Result, Ruma};

/// # `GET /_matrix/federation/v1/media/download/{mediaId}`
pub(crate) async fn get_content_route(services: Services, request: Ruma<download::Request>) -> Result<Response> {
    let server = services.config.server_name.clone();
    let file = services
        .media
        .download(
            &server,
            &request.body.media_id,
            Via::Federation,
            request.body.timeout_ms,
        )
        .await?;
    Ok(multipart_response(file))
}

/// # `GET /_matrix/federation/v1/media/thumbnail/{mediaId}`
pub(crate) async fn get_content_thumbnail_route(
    services: Services,
    request: Ruma<thumbnail::Request>,
) -> Result<Response> {
    let server = services.config.server_name.clone();
    let body = &request.body;
    let method = match body.method {
        Some(RumaMethod::Crop) => Method::Crop,
        _ => Method::Scale,
    };
    let dimension = |n: ruma::UInt| u32::try_from(u64::from(n)).unwrap_or(u32::MAX);
    let file = services
        .media
        .thumbnail(
            &server,
            &body.media_id,
            (dimension(body.width), dimension(body.height), method),
            Via::Federation,
            body.timeout_ms.min(Duration::from_secs(120)),
        )
        .await?;
    Ok(multipart_response(file))
}

/// The file as a streamed `multipart/mixed` answer with its length.
fn multipart_response(file: MediaFile) -> Response {
    let boundary = accord_media::new_boundary();
    let disposition = accord_media::content_disposition(&file.content_type, file.filename.as_deref());
    let (body, length) =
        accord_media::multipart_body(&boundary, &file.content_type, &disposition, file.reader, file.size);
    let mut response = Response::new(axum::body::Body::from_stream(body));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&accord_media::multipart_content_type(&boundary)) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    response
}
