//! Other servers' files: fetched once from the server the `mxc://` URI names, through the
//! federation client (so the allow-list holds, and nothing is requested of a server off it),
//! streamed into the store as they arrive (never held whole in memory) and served from here
//! afterwards. Concurrent requests for the same file wait for the one fetch.
//!
//! Order of attempts: the spec asks for the authenticated federation endpoint first and the
//! legacy `/_matrix/media/v3/download` (with `allow_remote=false`) only where a server lacks
//! it. A request that itself came on a legacy endpoint tries the legacy path first, as
//! Synapse did before the freeze: servers that serve only the legacy path (Complement's
//! federation stand-in among them) are then asked nothing they can't answer.

use std::time::Duration;

use accord_db::MediaRecord;
use accord_federation::StreamedResponse;
use accord_media::{BodyStream, RemotePart};
use ruma::{
    ServerName, api::federation::authenticated_media::get_content::v1 as federation_download,
    http_headers::ContentDisposition,
};

use super::{Media, download::Via, media_error, progress_key};
use crate::{Error, Result, remote::remote_error};

/// A remote file as it arrives.
pub(super) struct Fetched {
    pub(super) body: BodyStream,
    pub(super) length: Option<u64>,
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
            if fetched.length.is_some_and(|length| length > limit) {
                return Err(media_error(accord_media::Error::TooLarge { limit }));
            }
            let _writing = self.files.read().await;
            let blob = self.store.write(fetched.body, limit).await.map_err(|err| match err {
                accord_media::Error::Body(reason) => remote_error(
                    "Remote media",
                    accord_federation::Error::Transport {
                        server: server.to_string(),
                        reason,
                    },
                ),
                other => media_error(other),
            })?;
            let record = self.new_record(Some(blob), fetched.content_type, fetched.filename, None);
            self.put_record(server, media_id, &record)?;
            tracing::info!(%server, %media_id, size = blob.size, "remote media cached");
            Ok(record)
        })
        .await
    }

    /// Starts fetching a remote file, by the endpoint order this module's doc explains.
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

    /// `GET /_matrix/federation/v1/media/download/{mediaId}`, signed; the multipart answer's
    /// file part streamed.
    async fn fetch_federation(
        &self,
        server: &ServerName,
        media_id: &str,
        wait: Duration,
    ) -> Result<Fetched, FetchError> {
        let federation = self.federation()?;
        let mut request = federation_download::Request::new(media_id.to_owned());
        request.timeout_ms = wait;
        let response = federation
            .client()
            .send_streamed(server, request)
            .await
            .map_err(|err| FetchError::Failed(remote_error("Remote media", err)))?;
        if !response.status.is_success() {
            let status = response.status.as_u16();
            let body = response.error_text().await;
            if matches!(status, 400 | 404 | 405 | 501) && !body.contains("M_NOT_FOUND") {
                return Err(FetchError::Unsupported(format!("HTTP {status}")));
            }
            return Err(FetchError::Failed(remote_error(
                "Remote media",
                accord_federation::Error::Remote {
                    server: server.to_string(),
                    status,
                    body,
                },
            )));
        }
        let malformed = |reason: String| {
            FetchError::Failed(remote_error(
                "Remote media",
                accord_federation::Error::BadResponse {
                    server: server.to_string(),
                    reason,
                },
            ))
        };
        let content_type = header(&response, http::header::CONTENT_TYPE).unwrap_or_default();
        let boundary = accord_media::boundary_of(&content_type)
            .ok_or_else(|| malformed(format!("expected multipart/mixed, got {content_type:?}")))?;
        match accord_media::read_multipart(response.body, &boundary).await {
            Ok(RemotePart::File {
                content_type,
                content_disposition,
                body,
            }) => Ok(Fetched {
                body,
                length: None,
                content_type,
                filename: content_disposition.and_then(|value| filename_of(&value)),
            }),
            Ok(RemotePart::Location(url)) => {
                // Following it would let a remote server point this one at any address
                // (an internal one included); not done until an allow-list for it exists.
                tracing::warn!(%server, %media_id, %url, "remote media answered with a redirect; not followed");
                Err(FetchError::Failed(Error::not_found(
                    "The remote server redirects this media elsewhere, which this server does not follow",
                )))
            }
            Err(err) => Err(malformed(err.to_string())),
        }
    }

    /// `GET /_matrix/media/v3/download/{serverName}/{mediaId}?allow_remote=false`, unsigned.
    async fn fetch_legacy(&self, server: &ServerName, media_id: &str, wait: Duration) -> Result<Fetched> {
        let federation = self.federation()?;
        let path = format!(
            "/_matrix/media/v3/download/{server}/{media_id}?allow_remote=false&timeout_ms={}",
            wait.as_millis()
        );
        let response = federation
            .client()
            .get_unsigned_streamed(server, &path)
            .await
            .map_err(|err| remote_error("Remote media", err))?;
        if !response.status.is_success() {
            let status = response.status.as_u16();
            return Err(remote_error(
                "Remote media",
                accord_federation::Error::Remote {
                    server: server.to_string(),
                    status,
                    body: response.error_text().await,
                },
            ));
        }
        Ok(Fetched {
            length: header(&response, http::header::CONTENT_LENGTH).and_then(|value| value.parse().ok()),
            content_type: header(&response, http::header::CONTENT_TYPE),
            filename: header(&response, http::header::CONTENT_DISPOSITION).and_then(|value| filename_of(&value)),
            body: response.body,
        })
    }

    fn federation(&self) -> Result<&accord_federation::Federation> {
        self.federation
            .as_ref()
            .ok_or_else(|| Error::not_found("The media is on another server and federation is disabled"))
    }
}

/// A header of an answer, as text.
fn header(response: &StreamedResponse, name: http::HeaderName) -> Option<String> {
    response
        .headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

/// The file name of a `Content-Disposition` value.
fn filename_of(value: &str) -> Option<String> {
    ContentDisposition::try_from(value.as_bytes())
        .ok()
        .and_then(|d| d.filename)
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
