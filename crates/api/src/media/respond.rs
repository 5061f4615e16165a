//! Shared pieces of the media handlers: the query parsed after authentication (as Matrix
//! errors, never axum's), JSON answers from ruma's types, and a served file's headers.

use accord_service::media::MediaFile;
use axum::response::{IntoResponse, Response};
use bytes::BytesMut;
use http::{HeaderValue, StatusCode, header};
use ruma::api::{OutgoingResponse, OutgoingResponseExt, error::ErrorKind};
use serde::de::DeserializeOwned;

use crate::{ApiError, Result};

/// The request's query string as `T` (`+` and `%XX` decoded); 400 `M_INVALID_PARAM` when it
/// doesn't fit.
pub(super) fn query<T: DeserializeOwned + Default>(parts: &http::request::Parts) -> Result<T> {
    match parts.uri.query() {
        None => Ok(T::default()),
        Some(text) => serde_urlencoded::from_str(text)
            .map_err(|err| ApiError::new(ErrorKind::InvalidParam, format!("Invalid query parameters: {err}"))),
    }
}

/// The server name of a media path; one that is no server name names no media (404).
pub(super) fn media_server(name: &str) -> Result<ruma::OwnedServerName> {
    ruma::OwnedServerName::try_from(name)
        .map_err(|_| ApiError::from(accord_service::Error::not_found("No media with this id")))
}

/// A ruma response as the HTTP answer.
pub(super) fn json<R: OutgoingResponse>(response: R) -> Response {
    match response.try_into_http_response::<BytesMut>() {
        Ok(response) => response
            .map(|body| axum::body::Body::from(body.freeze()))
            .into_response(),
        Err(err) => ApiError::from(accord_service::Error::Internal(format!(
            "response serialization failed: {err}"
        )))
        .into_response(),
    }
}

/// A file as the answer: streamed from the store, with its type, length, disposition
/// (`filename` replaces the stored name when given) and the spec's security headers.
pub(super) fn file_response(file: MediaFile, filename: Option<&str>) -> Response {
    let disposition = accord_media::content_disposition(&file.content_type, filename.or(file.filename.as_deref()));
    let body = axum::body::Body::from_stream(tokio_util::io::ReaderStream::with_capacity(
        file.reader,
        accord_media::READ_CHUNK,
    ));
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    let content_type =
        HeaderValue::from_str(&file.content_type).unwrap_or(HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CONTENT_TYPE, content_type);
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(file.size));
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    for (name, value) in accord_media::SECURITY_HEADERS {
        headers.insert(*name, HeaderValue::from_static(value));
    }
    response
}
