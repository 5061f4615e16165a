//! Other servers' files: fetched once from the server the `mxc://` URI names, through the
//! federation client (so the allow-list holds, and nothing is requested of a server off it),
//! stored like an upload and served from here afterwards. Concurrent requests for the same file
//! wait for the one fetch.
//!
//! Order of attempts: the spec asks for the authenticated federation endpoint first and the
//! legacy `/_matrix/media/v3/download` (with `allow_remote=false`) only where a server lacks
//! it. A request that itself came on a legacy endpoint tries the legacy path first, as
//! Synapse did before the freeze: servers that serve only the legacy path (Complement's
//! federation stand-in among them) are then asked nothing they can't answer.

use std::time::Duration;

use accord_db::MediaRecord;
use bytes::Bytes;
use ruma::{
    ServerName,
    api::federation::authenticated_media::{FileOrLocation, get_content::v1 as federation_download},
    http_headers::ContentDisposition,
};

use super::{Media, download::Via, media_error, progress_key};
use crate::{Error, Result, remote::remote_error};

/// A remote file as fetched.
pub(super) struct Fetched {
    pub(super) bytes: Bytes,
    pub(super) content_type: Option<String>,
    pub(super) filename: Option<String>,
}

impl Media {
    /// The record of a remote file, fetched and stored first if this server has none.
    pub(super) async fn remote_record(
        &self,
        server: &ServerName,
        media_id: &str,
        via: Via,
        wait: Duration,
    ) -> Result<MediaRecord> {
        if let Some(record) = self.db.get_media(server, media_id)? {
            return Ok(record);
        }
        if matches!(via, Via::Legacy { .. }) && self.config.media.enable_authenticated_media {
            // Fetched now, it would be served only on the authenticated endpoints anyway.
            return Err(Error::not_found(
                "Remote media is fetched only on the authenticated endpoints (/_matrix/client/v1/media)",
            ));
        }
        let key = progress_key(&server.to_owned(), media_id, "file");
        self.one_at_a_time(key, async {
            if let Some(record) = self.db.get_media(server, media_id)? {
                return Ok(record);
            }
            let fetched = self.fetch_remote(server, media_id, via, wait).await?;
            let limit = self.config.media.max_upload_size;
            if fetched.bytes.len() as u64 > limit {
                return Err(media_error(accord_media::Error::TooLarge { limit }));
            }
            let _writing = self.files.read().await;
            let blob = accord_media::write_bytes(self.store.as_ref(), fetched.bytes)
                .await
                .map_err(media_error)?;
            let record = self.new_record(Some(blob), fetched.content_type, fetched.filename, None);
            self.put_record(server, media_id, &record)?;
            tracing::info!(%server, %media_id, size = blob.size, "remote media cached");
            Ok(record)
        })
        .await
    }

    /// Fetches a remote file, by the endpoint order this module's doc explains.
    async fn fetch_remote(&self, server: &ServerName, media_id: &str, via: Via, wait: Duration) -> Result<Fetched> {
        if matches!(via, Via::Legacy { .. }) {
            match self.fetch_legacy(server, media_id, wait).await {
                Ok(fetched) => return Ok(fetched),
                Err(err) => tracing::info!(%server, %media_id, %err, "legacy media download failed; trying federation"),
            }
            return Ok(self.fetch_federation(server, media_id, wait).await?);
        }
        match self.fetch_federation(server, media_id, wait).await {
            Ok(fetched) => Ok(fetched),
            Err(FetchError::Unsupported(reason)) => {
                tracing::info!(%server, %media_id, %reason, "no federation media endpoint; trying the legacy one");
                self.fetch_legacy(server, media_id, wait).await
            }
            Err(FetchError::Failed(err)) => Err(err),
        }
    }

    /// `GET /_matrix/federation/v1/media/download/{mediaId}`, signed.
    async fn fetch_federation(
        &self,
        server: &ServerName,
        media_id: &str,
        wait: Duration,
    ) -> Result<Fetched, FetchError> {
        let federation = self.federation()?;
        let mut request = federation_download::Request::new(media_id.to_owned());
        request.timeout_ms = wait;
        let response = match federation.client().send(server, request).await {
            Ok(response) => response,
            Err(accord_federation::Error::Remote { status, body, .. })
                if matches!(status, 400 | 404 | 405 | 501) && !body.contains("M_NOT_FOUND") =>
            {
                return Err(FetchError::Unsupported(format!("HTTP {status}")));
            }
            Err(err) => return Err(FetchError::Failed(remote_error("Remote media", err))),
        };
        match response.content {
            FileOrLocation::File(content) => Ok(Fetched {
                bytes: Bytes::from(content.file),
                content_type: content.content_type,
                filename: content.content_disposition.and_then(|d| d.filename),
            }),
            FileOrLocation::Location(url) => {
                // Following it would let a remote server point this one at any address
                // (an internal one included); not done until an allow-list for it exists.
                tracing::warn!(%server, %media_id, %url, "remote media answered with a redirect; not followed");
                Err(FetchError::Failed(Error::not_found(
                    "The remote server redirects this media elsewhere, which this server does not follow",
                )))
            }
            _ => Err(FetchError::Failed(Error::not_found(
                "The remote server answered with a kind of media response this server does not know",
            ))),
        }
    }

    /// `GET /_matrix/media/v3/download/{serverName}/{mediaId}?allow_remote=false`, unsigned.
    async fn fetch_legacy(&self, server: &ServerName, media_id: &str, wait: Duration) -> Result<Fetched> {
        let federation = self.federation()?;
        let path = format!(
            "/_matrix/media/v3/download/{server}/{media_id}?allow_remote=false&timeout_ms={}",
            wait.as_millis()
        );
        let (status, headers, bytes) = federation
            .client()
            .get_unsigned(server, &path)
            .await
            .map_err(|err| remote_error("Remote media", err))?;
        if !status.is_success() {
            return Err(remote_error(
                "Remote media",
                accord_federation::Error::Remote {
                    server: server.to_string(),
                    status: status.as_u16(),
                    body: String::from_utf8_lossy(&bytes).chars().take(500).collect(),
                },
            ));
        }
        let header = |name: http::HeaderName| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        Ok(Fetched {
            bytes,
            content_type: header(http::header::CONTENT_TYPE),
            filename: header(http::header::CONTENT_DISPOSITION)
                .and_then(|value| ContentDisposition::try_from(value.as_bytes()).ok())
                .and_then(|d| d.filename),
        })
    }

    fn federation(&self) -> Result<&accord_federation::Federation> {
        self.federation
            .as_ref()
            .ok_or_else(|| Error::not_found("The media is on another server and federation is disabled"))
    }
}

/// Why the federation endpoint gave no file.
pub(super) enum FetchError {
    /// The server does not serve it (an older server): the legacy endpoint may.
    Unsupported(String),
    /// Anything else, as the client will be told.
    Failed(Error),
}

impl From<Error> for FetchError {
    fn from(err: Error) -> Self {
        Self::Failed(err)
    }
}

impl From<FetchError> for Error {
    fn from(err: FetchError) -> Self {
        match err {
            FetchError::Unsupported(reason) => {
                Error::not_found(format!("The remote server has no such media: {reason}"))
            }
            FetchError::Failed(err) => err,
        }
    }
}
