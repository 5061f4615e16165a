//! `accord-media-s3`: media blobs in an S3-compatible bucket (AWS S3, MinIO, Ceph RGW, Garage, ...), through the
//! `object_store` crate (Apache Arrow's, which signs requests itself and sends them with the
//! same reqwest and rustls as the rest of Accord).
//!
//! Layout under the configured prefix: `blobs/<sha256 hex>` and `tmp/<random>` for writes in
//! progress. A blob's name is its hash, known only once the last byte has passed, so a write
//! streams into a temporary object (one PUT when small, a multipart upload of
//! [`PART_SIZE`] parts when larger: at most [`PARTS_IN_FLIGHT`] parts are held per upload)
//! and is then copied inside the bucket to its name. S3 acknowledges a PUT or copy only once
//! it is durable, and the name appears whole or not at all, as with `accord_media::LocalFiles`.
//! Temporary objects a crash leaves are removed by `BlobStore::prepare` at the next start;
//! a multipart upload the crash cut is left to the bucket's lifecycle rule (docs/media.md).

use std::{fmt, sync::Arc, time::Duration};

use futures::{StreamExt, TryStreamExt};
use object_store::{
    ClientOptions, ObjectStore, ObjectStoreExt,
    aws::{AmazonS3, AmazonS3Builder},
    buffered::BufWriter,
    path::Path,
};
use tokio_util::io::StreamReader;

use accord_media::{BlobStore, BodyStream, ContentHash, Error, Measured, ReadStream, Result, StoredBlob, new_media_id};

/// Size of each part of a multipart upload, and the most a write buffers before starting
/// one. S3's smallest allowed part is 5 MiB.
pub const PART_SIZE: usize = 8 * 1024 * 1024;

/// Parts of one upload sent at once.
pub const PARTS_IN_FLIGHT: usize = 2;

/// Where the bucket is and how to sign for it (`[media.s3]` of the configuration).
#[derive(Clone)]
pub struct S3Settings {
    /// Base URL of an S3-compatible service; `None` for AWS itself (by region).
    pub endpoint: Option<String>,
    /// The bucket; it must exist.
    pub bucket: String,
    /// The region requests are signed for.
    pub region: String,
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
    /// Key prefix inside the bucket (so one bucket can hold several servers' media).
    pub prefix: String,
    /// PEM certificates trusted for the endpoint beside the system's (a private CA).
    pub ca_pem: Option<Vec<u8>>,
}

impl fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// A [`BlobStore`] in an S3 bucket.
pub struct S3Store {
    store: Arc<AmazonS3>,
    blobs: Path,
    tmp: Path,
    described: String,
}

impl fmt::Debug for S3Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.described)
    }
}

/// A failure of the bucket, as a storage error naming the operation.
fn storage(operation: &str, err: object_store::Error) -> Error {
    Error::Storage(std::io::Error::other(format!("S3 {operation}: {err}")))
}

impl S3Store {
    /// Builds the client; nothing is requested until [`BlobStore::prepare`].
    pub fn new(settings: &S3Settings) -> Result<Self> {
        // object_store builds its own reqwest client, whose rustls (Accord builds it without a
        // bundled provider) uses the process default: the same ring provider `accord serve`
        // installs at start, installed here too for any other caller.
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let mut options = ClientOptions::new()
            .with_connect_timeout(Duration::from_secs(10))
            .with_timeout(Duration::from_secs(300));
        if let Some(pem) = &settings.ca_pem {
            for certificate in object_store::Certificate::from_pem_bundle(pem).map_err(|err| storage("CA file", err))? {
                options = options.with_root_certificate(certificate);
            }
        }
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&settings.bucket)
            .with_region(&settings.region)
            .with_access_key_id(&settings.access_key_id)
            .with_secret_access_key(&settings.secret_access_key)
            .with_client_options(options);
        if let Some(endpoint) = &settings.endpoint {
            // Plain HTTP only when the endpoint says so (a bucket on the same host or network).
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        let store = builder.build().map_err(|err| storage("configuration", err))?;
        let root = Path::from(settings.prefix.trim_matches('/'));
        Ok(Self {
            store: Arc::new(store),
            blobs: root.clone().join("blobs"),
            tmp: root.join("tmp"),
            described: format!(
                "S3Store(bucket {:?} at {}, prefix {:?})",
                settings.bucket,
                settings.endpoint.as_deref().unwrap_or("AWS"),
                settings.prefix
            ),
        })
    }

    fn path_of(&self, hash: &ContentHash) -> Path {
        self.blobs.clone().join(hash.to_hex())
    }

    /// Streams `body` into `writer` (not yet shut down), hashing it; the error once it passes
    /// `limit` or fails.
    async fn fill(writer: &mut BufWriter, mut body: BodyStream, limit: u64) -> Result<StoredBlob> {
        let mut measured = Measured::new(limit);
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|err| Error::Body(err.to_string()))?;
            measured.add(&chunk)?;
            writer.put(chunk).await.map_err(|err| storage("upload", err))?;
        }
        Ok(measured.finish())
    }

    /// Moves a finished temporary object to its blob name (unless those bytes are stored).
    async fn publish(&self, tmp: &Path, blob: &StoredBlob) -> Result<()> {
        let target = self.path_of(&blob.hash);
        let exists = match self.store.head(&target).await {
            Ok(_) => true,
            Err(object_store::Error::NotFound { .. }) => false,
            Err(err) => return Err(storage("head", err)),
        };
        if !exists {
            self.store
                .copy(tmp, &target)
                .await
                .map_err(|err| storage("copy", err))?;
        }
        self.store.delete(tmp).await.map_err(|err| storage("delete", err))
    }
}

#[async_trait::async_trait]
impl BlobStore for S3Store {
    async fn prepare(&self) -> Result<()> {
        let leftovers: Vec<Path> = self
            .store
            .list(Some(&self.tmp))
            .map_ok(|meta| meta.location)
            .try_collect()
            .await
            .map_err(|err| storage("listing the bucket", err))?;
        for location in &leftovers {
            self.store
                .delete(location)
                .await
                .map_err(|err| storage("delete", err))?;
        }
        if !leftovers.is_empty() {
            tracing::info!(removed = leftovers.len(), store = ?self, "removed unfinished media writes");
        }
        Ok(())
    }

    async fn write(&self, body: BodyStream, limit: u64) -> Result<StoredBlob> {
        let tmp = self.tmp.clone().join(new_media_id());
        let mut writer =
            BufWriter::with_capacity(self.store.clone(), tmp.clone(), PART_SIZE).with_max_concurrency(PARTS_IN_FLIGHT);
        let blob = match Self::fill(&mut writer, body, limit).await {
            Ok(blob) => blob,
            Err(err) => {
                // Nothing was stored yet: a small write is only buffered, a multipart one is
                // aborted (its parts discarded).
                if let Err(cleanup) = writer.abort().await {
                    tracing::warn!(%cleanup, "could not abort an unfinished S3 upload");
                }
                return Err(err);
            }
        };
        if let Err(err) = tokio::io::AsyncWriteExt::shutdown(&mut writer).await {
            // A failed multipart completion leaves its parts to the bucket's lifecycle rule.
            return Err(Error::Storage(std::io::Error::other(format!("S3 upload: {err}"))));
        }
        if let Err(err) = self.publish(&tmp, &blob).await {
            let _ = self.store.delete(&tmp).await;
            return Err(err);
        }
        Ok(blob)
    }

    async fn open(&self, hash: &ContentHash) -> Result<Option<(ReadStream, u64)>> {
        match self.store.get(&self.path_of(hash)).await {
            Ok(result) => {
                let size = result.meta.size;
                let stream = result.into_stream().map_err(std::io::Error::other);
                Ok(Some((Box::pin(StreamReader::new(stream)), size)))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(err) => Err(storage("get", err)),
        }
    }

    async fn read(&self, hash: &ContentHash, limit: u64) -> Result<Option<Vec<u8>>> {
        // The answer's head carries the size: a blob over the limit is dropped unread.
        match self.store.get(&self.path_of(hash)).await {
            Ok(result) if result.meta.size > limit => Err(Error::TooLarge { limit }),
            Ok(result) => Ok(Some(result.bytes().await.map_err(|err| storage("get", err))?.to_vec())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(err) => Err(storage("get", err)),
        }
    }

    async fn delete(&self, hash: &ContentHash) -> Result<()> {
        match self.store.delete(&self.path_of(hash)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(err) => Err(storage("delete", err)),
        }
    }
}
