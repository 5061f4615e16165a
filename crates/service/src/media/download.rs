//! Downloads: a local file (waiting, up to the caller's `timeout_ms`, for one reserved but not
//! yet uploaded), or a remote server's file (fetched once and cached, see `remote.rs`). Legacy
//! unauthenticated requests are refused media stored while authenticated media was on (spec
//! v1.11's freeze), as 404.

use std::time::Duration;

use accord_core::time::now_millis;
use accord_db::MediaRecord;
use accord_media::ReadStream;
use ruma::{ServerName, api::error::ErrorKind};

use super::{MAX_WAIT, Media, checked_id};
use crate::{Error, Result};

/// A file ready to send: its bytes as a stream, and what the response headers say of it.
pub struct MediaFile {
    /// The bytes.
    pub reader: ReadStream,
    /// Their length (`Content-Length`).
    pub size: u64,
    /// The declared type, `application/octet-stream` when none was given.
    pub content_type: String,
    /// The uploader's file name, if any.
    pub filename: Option<String>,
}

impl std::fmt::Debug for MediaFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaFile")
            .field("size", &self.size)
            .field("content_type", &self.content_type)
            .field("filename", &self.filename)
            .finish_non_exhaustive()
    }
}

/// Where a download request came from: what it may be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// `/_matrix/client/v1/media/*`, with an access token.
    Authenticated,
    /// `/_matrix/media/v3/*`, without one; `allow_remote` as the request says.
    Legacy {
        /// Whether a remote file may be fetched.
        allow_remote: bool,
    },
    /// `/_matrix/federation/v1/media/*`: another server, for this server's own files only.
    Federation,
}

impl Media {
    /// The file of `mxc://{server}/{media_id}`, waiting up to `wait` for a reserved id's
    /// upload.
    pub async fn download(&self, server: &ServerName, media_id: &str, via: Via, wait: Duration) -> Result<MediaFile> {
        let record = self.record_for(server, media_id, via, wait).await?;
        let sha256 = record
            .sha256
            .as_deref()
            .ok_or_else(|| Error::Internal("an uploaded media record has no hash".to_owned()))?;
        let (reader, size) = self.open_blob(sha256).await?;
        Ok(MediaFile {
            reader,
            size,
            content_type: record
                .content_type
                .clone()
                .unwrap_or_else(|| "application/octet-stream".to_owned()),
            filename: record.filename,
        })
    }

    /// The record of a media id with its file, local or fetched, as `via` may see it.
    pub(super) async fn record_for(
        &self,
        server: &ServerName,
        media_id: &str,
        via: Via,
        wait: Duration,
    ) -> Result<MediaRecord> {
        checked_id(media_id)?;
        let local = server == self.config.server_name;
        let record = if local {
            self.uploaded_record(server, media_id, wait.min(MAX_WAIT)).await?
        } else {
            match via {
                Via::Federation => return Err(Error::not_found("Only this server's own media is served here")),
                Via::Legacy { allow_remote: false } => self.db.get_media(server, media_id)?,
                Via::Legacy { .. } | Via::Authenticated => Some(self.remote_record(server, media_id, via, wait).await?),
            }
            .ok_or_else(|| Error::not_found("No media with this id"))?
        };
        if record.quarantined {
            return Err(Error::not_found(
                "This media has been quarantined by the server's admins",
            ));
        }
        if matches!(via, Via::Legacy { .. }) && record.authenticated_only {
            return Err(Error::not_found(
                "This media is served only on the authenticated endpoints (/_matrix/client/v1/media)",
            ));
        }
        Ok(record)
    }

    /// A local id's record once it has its file: unknown or expired ids are 404; a reserved id
    /// is waited on up to `wait`, then 504 `M_NOT_YET_UPLOADED`.
    async fn uploaded_record(&self, server: &ServerName, media_id: &str, wait: Duration) -> Result<MediaRecord> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut uploads = self.uploaded.subscribe();
        loop {
            let record = self
                .db
                .get_media(server, media_id)?
                .filter(|r| r.sha256.is_some() || r.unused_expires_ms.is_none_or(|at| at > now_millis()))
                .ok_or_else(|| Error::not_found("No media with this id"))?;
            if record.sha256.is_some() {
                return Ok(record);
            }
            // Synapse's wording, which Complement's TestAsyncUpload checks.
            let not_yet = || Error::new(ErrorKind::NotYetUploaded, "Media has not been uploaded yet");
            match tokio::time::timeout_at(deadline, uploads.changed()).await {
                Ok(Ok(())) => continue,
                Ok(Err(_)) | Err(_) => return Err(not_yet()),
            }
        }
    }
}
