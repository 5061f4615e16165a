//! Uploads: `POST /_matrix/media/v3/upload` (a new id for a new file) and the asynchronous
//! pair `POST /_matrix/media/v1/create` (an id first) then `PUT /_matrix/media/v3/upload/
//! {serverName}/{mediaId}` (its file, once). The file is streamed into the store and its
//! record written only after the file is durable.

use accord_core::time::now_millis;
use accord_db::MediaRecord;
use accord_media::BodyStream;
use ruma::{OwnedMxcUri, ServerName, UserId, api::error::ErrorKind};

use super::{Media, checked_id, media_error};
use crate::{AuthedUser, Error, Result};

/// What an upload request says about its file.
#[derive(Debug, Clone, Default)]
pub struct UploadMeta {
    /// `?filename=`.
    pub filename: Option<String>,
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// `Content-Length`, when sent: checked before reading a byte.
    pub declared_length: Option<u64>,
}

impl Media {
    /// `POST /_matrix/media/v3/upload`: stores the file under a new id.
    pub async fn upload(&self, user: &AuthedUser, meta: UploadMeta, body: BodyStream) -> Result<OwnedMxcUri> {
        self.rate_limits
            .check_user(crate::rate_limits::RateClass::MediaCreate, user)?;
        let limit = self.upload_limit(&user.user_id, meta.declared_length)?;
        let _writing = self.files.read().await;
        let blob = self.store.write(body, limit).await.map_err(media_error)?;
        let media_id = accord_media::new_media_id();
        let record = self.new_record(Some(blob), meta.content_type, meta.filename, Some(user.user_id.clone()));
        self.put_record(&self.config.server_name, &media_id, &record)?;
        tracing::info!(user = %user.user_id, %media_id, size = blob.size, "media uploaded");
        Ok(self.mxc(&media_id))
    }

    /// `POST /_matrix/media/v1/create`: reserves an id for a file that comes later; returns it
    /// and when it is forgotten unless the file arrives.
    pub fn create(&self, user: &AuthedUser) -> Result<(OwnedMxcUri, u64)> {
        self.rate_limits
            .check_user(crate::rate_limits::RateClass::MediaCreate, user)?;
        let _serial = self.reservations.lock();
        let now = now_millis();
        let pending = self.pending_uploads(&user.user_id, now)?;
        if pending >= u64::from(self.config.media.max_pending_uploads) {
            return Err(Error::new(
                ErrorKind::LimitExceeded(ruma::api::error::LimitExceededErrorData::new()),
                format!(
                    "You have {pending} reserved media ids without a file; upload to them (or wait for them to expire) first"
                ),
            ));
        }
        let expires = now.saturating_add(self.config.media.unused_expiration_secs.saturating_mul(1000));
        let media_id = accord_media::new_media_id();
        let record = MediaRecord {
            created_ms: now,
            unused_expires_ms: Some(expires),
            ..self.new_record(None, None, None, Some(user.user_id.clone()))
        };
        self.put_record(&self.config.server_name, &media_id, &record)?;
        Ok((self.mxc(&media_id), expires))
    }

    /// `PUT /_matrix/media/v3/upload/{serverName}/{mediaId}`: the file of a reserved id, once.
    pub async fn upload_reserved(
        &self,
        user: &AuthedUser,
        server: &ServerName,
        media_id: &str,
        meta: UploadMeta,
        body: BodyStream,
    ) -> Result<()> {
        let reserved = self.reserved_for(user, server, media_id)?;
        let limit = self.upload_limit(&user.user_id, meta.declared_length)?;
        let writing = self.files.read().await;
        let blob = self.store.write(body, limit).await.map_err(media_error)?;
        {
            let serial = self.reservations.lock();
            // Checked again: another upload to the same id may have finished meanwhile.
            if let Err(err) = self.reserved_for(user, server, media_id) {
                drop(serial);
                drop(writing);
                self.forget_blob_if_unused(&blob.hash.to_hex()).await;
                return Err(err);
            }
            let record = MediaRecord {
                sha256: Some(blob.hash.to_hex()),
                size: blob.size,
                content_type: meta.content_type,
                filename: meta.filename,
                unused_expires_ms: None,
                ..reserved
            };
            self.put_record(server, media_id, &record)?;
        }
        self.uploaded.send_modify(|n| *n = n.wrapping_add(1));
        tracing::info!(user = %user.user_id, %media_id, size = blob.size, "reserved media uploaded");
        Ok(())
    }

    /// The record of a reserved id `user` may upload to now, or why not (spec: 403 not theirs,
    /// 404 unknown or expired, 409 `M_CANNOT_OVERWRITE_MEDIA` once it has a file).
    fn reserved_for(&self, user: &AuthedUser, server: &ServerName, media_id: &str) -> Result<MediaRecord> {
        checked_id(media_id)?;
        if server != self.config.server_name {
            return Err(Error::forbidden("Media ids of other servers can't be uploaded to here"));
        }
        let record = self
            .db
            .get_media(server, media_id)?
            .filter(|record| record.unused_expires_ms.is_none_or(|at| at > now_millis()))
            .ok_or_else(|| Error::not_found("No reserved media id of this name (it may have expired)"))?;
        if record.uploader.as_ref() != Some(&user.user_id) {
            return Err(Error::forbidden("This media id was reserved by another user"));
        }
        if record.sha256.is_some() {
            return Err(Error::new(
                ErrorKind::CannotOverwriteMedia,
                // Synapse's words, which Complement's TestAsyncUpload checks.
                "Media ID already has content",
            ));
        }
        Ok(record)
    }

    /// How many bytes `user` may upload now: the size limit, or less under a quota. A declared
    /// length over it is refused before any byte is read.
    fn upload_limit(&self, user_id: &UserId, declared: Option<u64>) -> Result<u64> {
        let mut limit = self.config.media.max_upload_size;
        let quota = self.config.media.user_quota_bytes;
        if quota > 0 {
            let used: u64 = self.db.user_media(user_id)?.iter().map(|(_, size)| size).sum();
            limit = limit.min(quota.saturating_sub(used));
        }
        if let Some(declared) = declared
            && declared > limit
        {
            return Err(media_error(accord_media::Error::TooLarge { limit }));
        }
        Ok(limit)
    }

    /// Reserved ids of `user` still waiting for a file.
    fn pending_uploads(&self, user_id: &UserId, now: u64) -> Result<u64> {
        let since = now.saturating_sub(self.config.media.unused_expiration_secs.saturating_mul(1000));
        let mut pending = 0;
        for media_id in self.db.user_media_since(user_id, since)? {
            if let Some(record) = self.db.get_media(&self.config.server_name, &media_id)?
                && record.sha256.is_none()
                && record.unused_expires_ms.is_some_and(|at| at > now)
            {
                pending += 1;
            }
        }
        Ok(pending)
    }

    /// Deletes a stored file nothing refers to (an upload that lost a race).
    pub(super) async fn forget_blob_if_unused(&self, sha256: &str) {
        let Some(hash) = accord_media::ContentHash::from_hex(sha256) else {
            return;
        };
        match self.db.media_file_referenced(sha256) {
            Ok(false) => {
                if let Err(err) = self.store.delete(&hash).await {
                    tracing::warn!(%err, sha256, "could not delete an unused media file");
                }
            }
            Ok(true) => {}
            Err(err) => tracing::warn!(%err, sha256, "could not check a media file's references"),
        }
    }

    /// `mxc://<this server>/<media_id>`.
    fn mxc(&self, media_id: &str) -> OwnedMxcUri {
        OwnedMxcUri::from(format!("mxc://{}/{media_id}", self.config.server_name))
    }
}
