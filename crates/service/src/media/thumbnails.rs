//! Thumbnails of local and remote images: the request is served from the nearest configured
//! size (`media.thumbnail_sizes`), made on first request from the original (a remote original
//! is fetched first) and stored, so the same request always gets the same bytes, here and over
//! federation. Decoding runs off the async threads, a few at a time.

use std::time::Duration;

use accord_db::{ThumbnailRecord, WriteBatch};
use accord_media::{Method, ThumbnailSize, choose_size};
use ruma::{ServerName, api::error::ErrorKind};

use super::{Media, MediaFile, download::Via, media_error, progress_key};
use crate::{Error, Result};

impl Media {
    /// A thumbnail of `mxc://{server}/{media_id}` at least `width`x`height` (unless the image
    /// is smaller), fitted by `method`.
    pub async fn thumbnail(
        &self,
        server: &ServerName,
        media_id: &str,
        (width, height, method): (u32, u32, Method),
        via: Via,
        wait: Duration,
    ) -> Result<MediaFile> {
        if width == 0 || height == 0 {
            return Err(Error::new(ErrorKind::Unknown, "width and height must be positive"));
        }
        let size = choose_size(width, height, method, &self.thumbnail_sizes)
            .ok_or_else(|| Error::not_found("This server makes no thumbnails (media.thumbnail_sizes is empty)"))?;
        let record = self.record_for(server, media_id, via, wait).await?;
        let stored = match self.stored_thumbnail(server, media_id, size)? {
            Some(stored) => stored,
            None => {
                let key = progress_key(
                    &server.to_owned(),
                    media_id,
                    &format!("{}x{} {}", size.width, size.height, size.method.as_str()),
                );
                self.one_at_a_time(key, self.make_and_store(server, media_id, &record, size))
                    .await?
            }
        };
        let (reader, length) = self.open_blob(&stored.sha256).await?;
        Ok(MediaFile {
            reader,
            size: length,
            content_type: stored.content_type,
            filename: None,
        })
    }

    fn stored_thumbnail(
        &self,
        server: &ServerName,
        media_id: &str,
        size: ThumbnailSize,
    ) -> Result<Option<ThumbnailRecord>> {
        Ok(self
            .db
            .get_thumbnail(server, media_id, size.width, size.height, size.method.as_str())?)
    }

    /// Makes the thumbnail of `size` and stores it (unless a concurrent request just did).
    async fn make_and_store(
        &self,
        server: &ServerName,
        media_id: &str,
        record: &accord_db::MediaRecord,
        size: ThumbnailSize,
    ) -> Result<ThumbnailRecord> {
        if let Some(stored) = self.stored_thumbnail(server, media_id, size)? {
            return Ok(stored);
        }
        let sha256 = record
            .sha256
            .as_deref()
            .and_then(accord_media::ContentHash::from_hex)
            .ok_or_else(|| Error::Internal("a media record without a valid hash".to_owned()))?;
        let _permit = self
            .decoding
            .acquire()
            .await
            .map_err(|_| Error::Internal("thumbnailing stopped".to_owned()))?;
        let source = self
            .store
            .read(&sha256, self.config.media.max_upload_size)
            .await
            .map_err(media_error)?
            .ok_or_else(|| Error::not_found("The file is missing on this server"))?;
        let max_pixels = self.config.media.max_image_pixels;
        let thumbnail = tokio::task::spawn_blocking(move || accord_media::make_thumbnail(&source, size, max_pixels))
            .await
            .map_err(|err| Error::Internal(format!("thumbnailing failed: {err}")))?
            .map_err(media_error)?;
        let _writing = self.files.read().await;
        let blob = accord_media::write_bytes(self.store.as_ref(), thumbnail.bytes.into())
            .await
            .map_err(media_error)?;
        let stored = ThumbnailRecord {
            sha256: blob.hash.to_hex(),
            size: blob.size,
            content_type: thumbnail.content_type.to_owned(),
        };
        let mut batch = WriteBatch::new();
        self.db.put_thumbnail(
            &mut batch,
            server,
            media_id,
            (size.width, size.height, size.method.as_str()),
            &stored,
        );
        self.db.write(batch)?;
        Ok(stored)
    }
}
