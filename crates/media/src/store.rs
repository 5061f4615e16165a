//! Where media bytes live. Files are content-addressed (named by the sha256 of their bytes),
//! so identical uploads are stored once and a name never points at different bytes. A write
//! goes to a temporary file first, is synced, and only then renamed to its name: a crash
//! leaves at most a stray temporary file (removed at the next start), never half a file under
//! a real name.

use std::{
    fmt,
    path::{Path, PathBuf},
    pin::Pin,
};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWriteExt};

use crate::{Error, Result, ids::new_media_id};

/// A request body or remote download, chunk by chunk.
pub type BodyStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

/// A stored file, read as it is sent.
pub type ReadStream = Pin<Box<dyn AsyncRead + Send>>;

/// The sha256 of a file's bytes: its name in a [`BlobStore`].
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ContentHash(pub [u8; 32]);

impl ContentHash {
    /// Lower-case hex, as stored in metadata.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex digits.
    pub fn from_hex(text: &str) -> Option<Self> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(text, &mut out).ok()?;
        Some(Self(out))
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentHash({})", self.to_hex())
    }
}

/// What a completed write stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredBlob {
    /// The name of the bytes.
    pub hash: ContentHash,
    /// Their length.
    pub size: u64,
}

/// A place for media bytes: [`LocalFiles`] keeps them in a directory, `accord-media-s3`'s
/// `S3Store` in a bucket.
#[async_trait::async_trait]
pub trait BlobStore: Send + Sync + fmt::Debug {
    /// Run once at start, before any other call: reaches the storage (so a misconfiguration
    /// stops the server at once) and removes what a crash left unfinished.
    async fn prepare(&self) -> Result<()> {
        Ok(())
    }

    /// Streams `body` into the store, refusing more than `limit` bytes; the blob is visible
    /// only once complete and durable. On any failure nothing is kept.
    async fn write(&self, body: BodyStream, limit: u64) -> Result<StoredBlob>;

    /// Opens a stored blob for reading, with its length; `None` when absent.
    async fn open(&self, hash: &ContentHash) -> Result<Option<(ReadStream, u64)>>;

    /// A stored blob's bytes, if present and at most `limit` long (a thumbnail's source).
    async fn read(&self, hash: &ContentHash, limit: u64) -> Result<Option<Vec<u8>>>;

    /// Removes a blob; absent is fine.
    async fn delete(&self, hash: &ContentHash) -> Result<()>;
}

/// What a write has seen so far: the running sha256 and length of the bytes, refused past a
/// limit. Every [`BlobStore`] counts its writes with it, so all name and bound blobs alike.
pub struct Measured {
    hasher: Sha256,
    size: u64,
    limit: u64,
}

impl Measured {
    /// Nothing seen yet; at most `limit` bytes allowed.
    pub fn new(limit: u64) -> Self {
        Self {
            hasher: Sha256::new(),
            size: 0,
            limit,
        }
    }

    /// Counts `chunk`; [`Error::TooLarge`] once the total passes the limit.
    pub fn add(&mut self, chunk: &[u8]) -> Result<()> {
        self.size += chunk.len() as u64;
        if self.size > self.limit {
            return Err(Error::TooLarge { limit: self.limit });
        }
        self.hasher.update(chunk);
        Ok(())
    }

    /// The blob the counted bytes make.
    pub fn finish(self) -> StoredBlob {
        StoredBlob {
            hash: ContentHash(self.hasher.finalize().into()),
            size: self.size,
        }
    }
}

/// Stores `bytes` whole (a thumbnail, a remote file already in memory).
pub async fn write_bytes(store: &dyn BlobStore, bytes: Bytes) -> Result<StoredBlob> {
    let limit = bytes.len() as u64;
    store
        .write(Box::pin(futures::stream::once(async move { Ok(bytes) })), limit)
        .await
}

/// Blobs as files under a directory: `blobs/ab/cd/abcd…` (two levels of fan-out, so no
/// directory grows past 65,536 entries per level), and `tmp/` for writes in progress.
#[derive(Debug, Clone)]
pub struct LocalFiles {
    blobs: PathBuf,
    tmp: PathBuf,
}

impl LocalFiles {
    /// Opens (creating) the store at `root` and removes temporary files a crash left behind.
    /// Synchronous: it runs once, at start.
    pub fn open(root: &Path) -> Result<Self> {
        let store = Self {
            blobs: root.join("blobs"),
            tmp: root.join("tmp"),
        };
        std::fs::create_dir_all(&store.blobs)?;
        std::fs::create_dir_all(&store.tmp)?;
        let mut removed = 0;
        for entry in std::fs::read_dir(&store.tmp)? {
            std::fs::remove_file(entry?.path())?;
            removed += 1;
        }
        if removed > 0 {
            tracing::info!(removed, dir = %store.tmp.display(), "removed unfinished media writes");
        }
        Ok(store)
    }

    fn path_of(&self, hash: &ContentHash) -> PathBuf {
        let hex = hash.to_hex();
        self.blobs.join(&hex[0..2]).join(&hex[2..4]).join(hex)
    }

    /// Streams `body` into `file`, hashing it; the error once it passes `limit` or fails.
    async fn fill(file: &mut tokio::fs::File, mut body: BodyStream, limit: u64) -> Result<StoredBlob> {
        let mut measured = Measured::new(limit);
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|err| Error::Body(err.to_string()))?;
            measured.add(&chunk)?;
            file.write_all(&chunk).await?;
        }
        file.sync_all().await?;
        Ok(measured.finish())
    }
}

/// Makes a rename inside `dir` durable.
async fn sync_dir(dir: PathBuf) -> std::io::Result<()> {
    tokio::task::spawn_blocking(move || std::fs::File::open(dir)?.sync_all())
        .await
        .map_err(std::io::Error::other)?
}

#[async_trait::async_trait]
impl BlobStore for LocalFiles {
    async fn write(&self, body: BodyStream, limit: u64) -> Result<StoredBlob> {
        let tmp_path = self.tmp.join(format!("{}.part", new_media_id()));
        let mut file = tokio::fs::File::create(&tmp_path).await?;
        let filled = Self::fill(&mut file, body, limit).await;
        drop(file);
        let blob = match filled {
            Ok(blob) => blob,
            Err(err) => {
                if let Err(cleanup) = tokio::fs::remove_file(&tmp_path).await {
                    tracing::warn!(%cleanup, path = %tmp_path.display(), "could not remove an unfinished media write");
                }
                return Err(err);
            }
        };
        let target = self.path_of(&blob.hash);
        let dir = target
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.blobs.clone());
        tokio::fs::create_dir_all(&dir).await?;
        if tokio::fs::try_exists(&target).await? {
            // The same bytes are stored already.
            tokio::fs::remove_file(&tmp_path).await?;
        } else {
            tokio::fs::rename(&tmp_path, &target).await?;
            sync_dir(dir).await?;
        }
        Ok(blob)
    }

    async fn open(&self, hash: &ContentHash) -> Result<Option<(ReadStream, u64)>> {
        match tokio::fs::File::open(self.path_of(hash)).await {
            Ok(file) => {
                let size = file.metadata().await?.len();
                Ok(Some((Box::pin(file), size)))
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err.into()),
        }
    }

    async fn read(&self, hash: &ContentHash, limit: u64) -> Result<Option<Vec<u8>>> {
        let path = self.path_of(hash);
        match tokio::fs::metadata(&path).await {
            Ok(meta) if meta.len() > limit => Err(Error::TooLarge { limit }),
            Ok(_) => Ok(Some(tokio::fs::read(&path).await?)),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err.into()),
        }
    }

    async fn delete(&self, hash: &ContentHash) -> Result<()> {
        match tokio::fs::remove_file(self.path_of(hash)).await {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(err.into()),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    fn chunks(parts: Vec<std::io::Result<Bytes>>) -> BodyStream {
        Box::pin(futures::stream::iter(parts))
    }

    #[tokio::test]
    async fn identical_bytes_are_stored_once_and_read_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = LocalFiles::open(dir.path()).expect("open");
        let a = store
            .write(
                chunks(vec![
                    Ok(Bytes::from_static(b"hello ")),
                    Ok(Bytes::from_static(b"world")),
                ]),
                100,
            )
            .await
            .expect("write");
        let b = write_bytes(&store, Bytes::from_static(b"hello world"))
            .await
            .expect("write");
        assert_eq!(a, b);
        assert_eq!(a.size, 11);
        let (mut reader, size) = store.open(&a.hash).await.expect("open").expect("present");
        let mut text = String::new();
        reader.read_to_string(&mut text).await.expect("read");
        assert_eq!((text.as_str(), size), ("hello world", 11));
        store.delete(&a.hash).await.expect("delete");
        assert!(store.open(&a.hash).await.expect("open").is_none());
    }

    #[tokio::test]
    async fn failed_writes_leave_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = LocalFiles::open(dir.path()).expect("open");
        let too_large = store.write(chunks(vec![Ok(Bytes::from(vec![0u8; 11]))]), 10).await;
        assert!(matches!(too_large, Err(Error::TooLarge { limit: 10 })));
        let broken = store
            .write(
                chunks(vec![Ok(Bytes::from_static(b"part")), Err(std::io::Error::other("cut"))]),
                100,
            )
            .await;
        assert!(matches!(broken, Err(Error::Body(_))));
        let mut left = tokio::fs::read_dir(dir.path().join("tmp")).await.expect("tmp");
        assert!(
            left.next_entry().await.expect("entry").is_none(),
            "no temporary file left"
        );
        let mut blobs = tokio::fs::read_dir(dir.path().join("blobs")).await.expect("blobs");
        assert!(blobs.next_entry().await.expect("entry").is_none(), "no blob stored");
    }
}
