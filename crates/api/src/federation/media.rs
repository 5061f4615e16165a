//! Media for other servers (spec: server-server API "Content repository"):
//! `GET /_matrix/federation/v1/media/download/{mediaId}` and `.../thumbnail/{mediaId}`, this
//! server's own files only, answered as ruma's `multipart/mixed` (an empty metadata part, then
//! the file). ruma's answer type holds the file in memory, so these read it whole; the size is
//! bounded by `media.max_upload_size`.

use std::time::Duration;

use accord_media::Method;
use accord_service::{
    Services,
    media::{MediaFile, Via},
};
use ruma::{
    api::federation::authenticated_media::{
        Content, ContentMetadata, FileOrLocation, get_content::v1 as download, get_content_thumbnail::v1 as thumbnail,
    },
    media::Method as RumaMethod,
};
use tokio::io::AsyncReadExt;

use crate::{ApiError, Result, Ruma};

/// # `GET /_matrix/federation/v1/media/download/{mediaId}`
pub(crate) async fn get_content_route(
    services: Services,
    request: Ruma<download::Request>,
) -> Result<download::Response> {
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
    Ok(download::Response::new(ContentMetadata::new(), whole(file).await?))
}

/// # `GET /_matrix/federation/v1/media/thumbnail/{mediaId}`
pub(crate) async fn get_content_thumbnail_route(
    services: Services,
    request: Ruma<thumbnail::Request>,
) -> Result<thumbnail::Response> {
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
    Ok(thumbnail::Response::new(ContentMetadata::new(), whole(file).await?))
}

/// The file read whole, with its type and disposition, for a multipart answer.
async fn whole(mut file: MediaFile) -> Result<FileOrLocation> {
    let mut bytes = Vec::with_capacity(usize::try_from(file.size).unwrap_or_default());
    file.reader.read_to_end(&mut bytes).await.map_err(|err| {
        ApiError::from(accord_service::Error::Internal(format!(
            "reading a media file failed: {err}"
        )))
    })?;
    let disposition = accord_media::disposition(&file.content_type, file.filename.as_deref());
    Ok(FileOrLocation::File(Content::new(
        bytes,
        file.content_type,
        disposition,
    )))
}
