//! The content repository (spec: client-server API "Content repository", server-server API
//! "Content repository"): uploads (at once, or to an id reserved first), downloads of local
//! and remote files, thumbnails made on first request and kept, and the files this server
//! serves to others. Bytes live in an [`accord_media::BlobStore`], named by content hash;
//! what each `mxc://` id names lives in the database, written only once its file is durable.

mod admin;
mod download;
mod preview;
mod remote;
mod thumbnails;
mod upload;

use std::{collections::HashMap, sync::Arc, time::Duration};

use accord_core::{Config, config::MediaBackend};
use accord_db::Db;
use accord_media::{BlobStore, LocalFiles, ReadStream};
use accord_media_s3::{S3Settings, S3Store};
use parking_lot::Mutex;
use ruma::{OwnedServerName, api::error::ErrorKind};

use crate::{Error, Result};

pub use download::{MediaFile, Via};
pub use upload::UploadMeta;

/// Longest a download may wait for an asynchronous upload to arrive (the spec's `timeout_ms`
/// default is 20 s; clients may ask for more, up to this).
const MAX_WAIT: Duration = Duration::from_secs(120);

/// The content repository.
#[derive(Clone, Debug)]
pub struct Media {
    config: Arc<Config>,
    db: Db,
    store: Arc<dyn BlobStore>,
    federation: Option<accord_federation::Federation>,
    /// Bumped whenever an asynchronous upload completes: downloads waiting for one wake.
    uploaded: tokio::sync::watch::Sender<u64>,
    /// One lock per remote file or thumbnail being made, so concurrent requests for the same
    /// file fetch (or decode) it once; the others wait and find it stored.
    in_progress: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
    /// Serializes the checks and writes of uploads to reserved ids (one file per id).
    reservations: Arc<Mutex<()>>,
    /// Held shared from writing a file until its record commits, and exclusively while a file
    /// found unreferenced is deleted: a file can't gain a reference (an identical upload)
    /// between that check and its deletion.
    files: Arc<tokio::sync::RwLock<()>>,
    /// Each user's upload allowance.
    /// Uploads and reserved ids count against `rate_limits.media_create`.
    rate_limits: crate::rate_limits::RateLimits,
    /// The guarded web fetcher, when URL previews are on.
    web: Option<accord_federation::WebFetcher>,
    /// Recent URL previews.
    previews: Arc<preview::PreviewCache>,
    /// `media.thumbnail_sizes`, in the terms of `accord-media`.
    thumbnail_sizes: Arc<[accord_media::ThumbnailSize]>,
    /// Bounds thumbnail decoding to the machine's cores.
    decoding: Arc<tokio::sync::Semaphore>,
}

impl Media {
    /// Opens the media store (`media.path`, or beside the database).
    pub fn new(
        config: Arc<Config>,
        db: Db,
        federation: Option<accord_federation::Federation>,
        rate_limits: crate::rate_limits::RateLimits,
    ) -> Result<Self> {
        let store = open_store(&config)?;
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        let web = if config.media.url_preview_enabled {
            let media = &config.media;
            let guard = accord_federation::AddressGuard::new(
                &media.url_preview_ip_range_denylist,
                &media.url_preview_ip_range_allowlist,
            )
            .map_err(|err| Error::Internal(format!("media.url_preview_ip_range_*: {err}")))?;
            let fetcher = accord_federation::WebFetcher::new(
                guard,
                config.federation.tls_ca_file.as_deref(),
                Duration::from_secs(media.url_preview_timeout_secs.max(1)),
                usize::try_from(media.url_preview_max_bytes).unwrap_or(usize::MAX),
            )
            .map_err(|err| Error::Internal(format!("URL previews can't start: {err}")))?;
            Some(fetcher)
        } else {
            None
        };
        Ok(Self {
            thumbnail_sizes: thumbnail_sizes(&config),
            config,
            db,
            store,
            federation,
            uploaded: tokio::sync::watch::Sender::new(0),
            in_progress: Arc::default(),
            reservations: Arc::default(),
            files: Arc::default(),
            rate_limits,
            web,
            previews: Arc::default(),
            decoding: Arc::new(tokio::sync::Semaphore::new(cores)),
        })
    }

    /// Makes the store ready at start: a bucket is reached (a wrong endpoint, bucket or key
    /// stops the server with the reason) and what a crash left unfinished is removed.
    pub async fn prepare(&self) -> Result<()> {
        self.store.prepare().await.map_err(|err| {
            Error::Internal(format!(
                "the media store {:?} is not usable: {err}; check [media.s3] (endpoint, bucket, keys)",
                self.store
            ))
        })
    }

    /// The largest upload accepted, bytes (`m.upload.size` of `/media/config`).
    pub fn max_upload_size(&self) -> u64 {
        self.config.media.max_upload_size
    }

    /// Runs `work` holding the lock of `key`, so one caller at a time does it.
    async fn one_at_a_time<T>(&self, key: String, work: impl Future<Output = Result<T>>) -> Result<T> {
        let lock = self.in_progress.lock().entry(key.clone()).or_default().clone();
        let result = {
            let _held = lock.lock().await;
            work.await
        };
        // The last one out removes the entry (the map holds one reference, this call another).
        let mut map = self.in_progress.lock();
        if map.get(&key).is_some_and(|held| Arc::strong_count(held) <= 2) {
            map.remove(&key);
        }
        result
    }

    /// A new record of a stored file (or, without one, of a reserved id), made now and under
    /// the current authenticated-media setting.
    fn new_record(
        &self,
        blob: Option<accord_media::StoredBlob>,
        content_type: Option<String>,
        filename: Option<String>,
        uploader: Option<ruma::OwnedUserId>,
    ) -> accord_db::MediaRecord {
        accord_db::MediaRecord {
            sha256: blob.map(|blob| blob.hash.to_hex()),
            size: blob.map_or(0, |blob| blob.size),
            content_type,
            filename,
            uploader,
            created_ms: accord_core::time::now_millis(),
            unused_expires_ms: None,
            authenticated_only: self.config.media.enable_authenticated_media,
            quarantined: false,
        }
    }

    /// Commits a media id's record.
    fn put_record(&self, server: &ruma::ServerName, media_id: &str, record: &accord_db::MediaRecord) -> Result<()> {
        let mut batch = accord_db::WriteBatch::new();
        self.db.put_media(&mut batch, server, media_id, record);
        Ok(self.db.write(batch)?)
    }

    /// Opens a stored file by its hex hash; a record whose file is gone is reported and 404.
    async fn open_blob(&self, sha256: &str) -> Result<(ReadStream, u64)> {
        let hash = accord_media::ContentHash::from_hex(sha256)
            .ok_or_else(|| Error::Internal(format!("stored media hash {sha256:?} is not a sha256")))?;
        match self.store.open(&hash).await.map_err(media_error)? {
            Some(found) => Ok(found),
            None => {
                tracing::error!(sha256, "media file missing from the media directory");
                Err(Error::not_found("The file is missing on this server"))
            }
        }
    }
}

/// The configured thumbnail sizes as `accord-media` takes them.
fn thumbnail_sizes(config: &Config) -> Arc<[accord_media::ThumbnailSize]> {
    use accord_core::config::ThumbnailMethod;
    config
        .media
        .thumbnail_sizes
        .iter()
        .map(|size| accord_media::ThumbnailSize {
            width: size.width,
            height: size.height,
            method: match size.method {
                ThumbnailMethod::Scale => accord_media::Method::Scale,
                ThumbnailMethod::Crop => accord_media::Method::Crop,
            },
        })
        .collect()
}

/// The client-facing error of a media failure.
fn media_error(err: accord_media::Error) -> Error {
    match err {
        accord_media::Error::TooLarge { limit } => Error::new(
            ErrorKind::TooLarge,
            format!("The file is larger than this server's limit of {limit} bytes"),
        ),
        accord_media::Error::Body(reason) => Error::bad_json(format!("The upload could not be read: {reason}")),
        // The spec's answers for thumbnails: 400 `M_UNKNOWN` for what can't be thumbnailed,
        // 413 `M_TOO_LARGE` for an image too large to.
        accord_media::Error::NotAnImage(reason) => Error::new(
            ErrorKind::Unknown,
            format!("No thumbnail can be made of this file: {reason}"),
        ),
        err @ accord_media::Error::TooManyPixels { .. } => Error::new(
            ErrorKind::TooLarge,
            format!("No thumbnail is made of this image: {err}"),
        ),
        accord_media::Error::Storage(err) => Error::Internal(format!("media storage failed: {err}")),
    }
}

/// `mxc://server/id` parts, validated: ids outside the safe alphabet are 404, never looked up.
fn checked_id(media_id: &str) -> Result<()> {
    if accord_media::is_valid_media_id(media_id) {
        Ok(())
    } else {
        Err(Error::not_found("No media with this id"))
    }
}

/// The key of one remote file or thumbnail in [`Media::in_progress`].
fn progress_key(server: &OwnedServerName, media_id: &str, what: &str) -> String {
    format!("{server}/{media_id}/{what}")
}

/// The configured store: the directory `media.path`, or the bucket of `[media.s3]`.
fn open_store(config: &Config) -> Result<Arc<dyn BlobStore>> {
    match (config.media.backend, &config.media.s3) {
        (MediaBackend::Local, _) => {
            let path = config.media_path();
            let store = LocalFiles::open(&path).map_err(|err| {
                Error::Internal(format!(
                    "cannot open the media directory {}: {err}; check media.path and its permissions",
                    path.display()
                ))
            })?;
            Ok(Arc::new(store))
        }
        (MediaBackend::S3, None) => Err(Error::Internal(
            "media.backend = \"s3\" needs a [media.s3] table (see docs/media.md)".to_owned(),
        )),
        (MediaBackend::S3, Some(s3)) => {
            let read = |key: &str, path: &std::path::Path| {
                std::fs::read(path)
                    .map_err(|err| Error::Internal(format!("{key}: cannot read {}: {err}", path.display())))
            };
            let secret_access_key = match (&s3.secret_access_key, &s3.secret_access_key_file) {
                (Some(secret), _) => secret.clone(),
                (None, Some(file)) => String::from_utf8_lossy(&read("media.s3.secret_access_key_file", file)?)
                    .trim()
                    .to_owned(),
                (None, None) => {
                    return Err(Error::Internal(
                        "media.s3.secret_access_key_file (or secret_access_key) is required".to_owned(),
                    ));
                }
            };
            let ca_pem = match &s3.ca_file {
                Some(file) => Some(read("media.s3.ca_file", file)?),
                None => None,
            };
            let settings = S3Settings {
                endpoint: s3.endpoint.clone(),
                bucket: s3.bucket.clone(),
                region: s3.region.clone(),
                access_key_id: s3.access_key_id.clone(),
                secret_access_key,
                prefix: s3.prefix.clone(),
                ca_pem,
            };
            let store = S3Store::new(&settings).map_err(|err| Error::Internal(format!("media.s3: {err}")))?;
            tracing::info!(store = ?store, "media files are stored in an S3 bucket");
            Ok(Arc::new(store))
        }
    }
}
