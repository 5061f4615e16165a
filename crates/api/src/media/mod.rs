//! The content repository's HTTP surface (spec: client-server API "Content repository"):
//! uploads and downloads stream their bodies (an upload is never buffered whole, a download is
//! read from disk as it is sent), so they take the raw request rather than the buffering
//! `Ruma<T>` extractor; `/create` and `/config` are plain ruma endpoints. Authenticated
//! endpoints check the access token before anything else of the request.

mod config;
mod download;
mod preview;
mod respond;
mod upload;

use accord_service::Services;
use axum::{
    Router,
    routing::{get, post, put},
};

use crate::router::RumaRouter;

/// Registers every media route on the client listener.
pub(crate) fn routes(router: Router<Services>) -> Router<Services> {
    let router = router
        .ruma_route(upload::create_mxc_uri_route)
        .ruma_route(config::get_media_config_route)
        .ruma_route(config::get_legacy_media_config_route)
        .ruma_route(preview::get_media_preview_route)
        .ruma_route(preview::get_legacy_media_preview_route);
    let router = ["r0", "v3"].iter().fold(router, |router, version| {
        router
            .route(
                &format!("/_matrix/media/{version}/upload"),
                post(upload::create_content_route),
            )
            .route(
                &format!("/_matrix/media/{version}/upload/{{server_name}}/{{media_id}}"),
                put(upload::create_content_async_route),
            )
    });
    let router = legacy_routes(router);
    router
        .route(
            "/_matrix/client/v1/media/download/{server_name}/{media_id}",
            get(download::download_route),
        )
        .route(
            "/_matrix/client/v1/media/download/{server_name}/{media_id}/{file_name}",
            get(download::download_route),
        )
        .route(
            "/_matrix/client/v1/media/thumbnail/{server_name}/{media_id}",
            get(download::thumbnail_route),
        )
}

/// The legacy unauthenticated downloads and thumbnails (`/_matrix/media/{r0,v3}`), on the
/// client listener and, for older servers fetching this server's files, the federation one.
pub(crate) fn legacy_routes(router: Router<Services>) -> Router<Services> {
    ["r0", "v3"].iter().fold(router, |router, version| {
        router
            .route(
                &format!("/_matrix/media/{version}/download/{{server_name}}/{{media_id}}"),
                get(download::legacy_download_route),
            )
            .route(
                &format!("/_matrix/media/{version}/download/{{server_name}}/{{media_id}}/{{file_name}}"),
                get(download::legacy_download_route),
            )
            .route(
                &format!("/_matrix/media/{version}/thumbnail/{{server_name}}/{{media_id}}"),
                get(download::legacy_thumbnail_route),
            )
    })
}
