//! `GET /_matrix/client/v1/media/preview_url` and its legacy twin: OpenGraph previews of web
//! pages, when `media.url_preview_enabled` (else `M_UNRECOGNIZED`, as Synapse answers).

use accord_service::Services;
#[allow(deprecated)]
use ruma::api::client::{
    authenticated_media::get_media_preview::v1 as preview, media::get_media_preview::v3 as legacy_preview,
};

use crate::{ApiError, Result, Ruma};

async fn preview_json(services: &Services, url: &str) -> Result<serde_json::Map<String, serde_json::Value>> {
    Ok(services.media.preview_url(url).await?)
}

fn serialization(err: serde_json::Error) -> ApiError {
    ApiError::from(accord_service::Error::Internal(format!(
        "a preview failed to serialize: {err}"
    )))
}

/// # `GET /_matrix/client/v1/media/preview_url`
pub(crate) async fn get_media_preview_route(
    services: Services,
    request: Ruma<preview::Request>,
) -> Result<preview::Response> {
    let data = preview_json(&services, &request.body.url).await?;
    preview::Response::from_serialize(&data).map_err(serialization)
}

/// # `GET /_matrix/media/v3/preview_url`
///
/// Deprecated by the spec (v1.11); older clients and Complement's TestUrlPreview use it.
#[allow(deprecated)]
pub(crate) async fn get_legacy_media_preview_route(
    services: Services,
    request: Ruma<legacy_preview::Request>,
) -> Result<legacy_preview::Response> {
    let data = preview_json(&services, &request.body.url).await?;
    legacy_preview::Response::from_serialize(&data).map_err(serialization)
}
