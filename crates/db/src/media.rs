//! Media metadata: what each `mxc://` id names (a stored file by content hash, or an id
//! reserved for an asynchronous upload), the thumbnails made of it, each user's uploads, and
//! the references to each stored file. The bytes themselves are `accord-media`'s.

use accord_storage::{
    WriteBatch,
    codec::{KeyBuilder, KeyReader},
};
use ruma::{OwnedUserId, ServerName, UserId};
use serde::{Deserialize, Serialize};

use crate::{
    Db, Error, Result,
    database::encode,
    rooms::decode_count,
    tables::{SERVERMEDIAID_MEDIA, SERVERMEDIAID_THUMBNAIL, SHA256_MEDIAREF, USERID_MEDIA},
};

/// One media id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaRecord {
    /// The stored file's sha256 (hex); `None` while an asynchronous upload has not arrived.
    pub sha256: Option<String>,
    /// The file's length in bytes.
    pub size: u64,
    /// The type the uploader (or the origin server) declared.
    pub content_type: Option<String>,
    /// The file name the uploader gave.
    pub filename: Option<String>,
    /// The local uploader; `None` for a remote server's file cached here.
    pub uploader: Option<OwnedUserId>,
    /// When the id was made (or the remote file cached), ms since the epoch.
    pub created_ms: u64,
    /// An asynchronous upload's id is forgotten if no file arrives by then.
    #[serde(default)]
    pub unused_expires_ms: Option<u64>,
    /// Stored or cached after unauthenticated media was frozen: served only on the
    /// authenticated endpoints (spec v1.11).
    #[serde(default)]
    pub authenticated_only: bool,
    /// Quarantined by an admin: served to nobody.
    #[serde(default)]
    pub quarantined: bool,
}

/// One thumbnail made of a media id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThumbnailRecord {
    /// The thumbnail file's sha256 (hex).
    pub sha256: String,
    /// Its length.
    pub size: u64,
    /// Its type.
    pub content_type: String,
}

fn media_key(server: &ServerName, media_id: &str) -> Vec<u8> {
    KeyBuilder::new().str(server.as_str()).str(media_id).build()
}

fn thumbnail_key(server: &ServerName, media_id: &str, width: u32, height: u32, method: &str) -> Vec<u8> {
    KeyBuilder::new()
        .str(server.as_str())
        .str(media_id)
        .u64(width.into())
        .u64(height.into())
        .str(method)
        .build()
}

/// The reference `what` (the file itself, or one thumbnail) of a media id holds on `sha256`.
fn reference_key(sha256: &str, server: &ServerName, media_id: &str, what: &str) -> Vec<u8> {
    KeyBuilder::new()
        .str(sha256)
        .str(server.as_str())
        .str(media_id)
        .str(what)
        .build()
}

/// The name of a thumbnail's reference on its file.
pub fn thumbnail_reference(width: u32, height: u32, method: &str) -> String {
    format!("thumbnail {width}x{height} {method}")
}

/// The name of a media id's reference on its own file.
pub const FILE_REFERENCE: &str = "file";

impl Db {
    /// A media id's record.
    pub fn get_media(&self, server: &ServerName, media_id: &str) -> Result<Option<MediaRecord>> {
        self.get_json(SERVERMEDIAID_MEDIA, &media_key(server, media_id))
    }

    /// Queues storing a media id's record, its place among its uploader's media, and its
    /// reference on its file.
    pub fn put_media(&self, batch: &mut WriteBatch, server: &ServerName, media_id: &str, record: &MediaRecord) {
        batch.put(SERVERMEDIAID_MEDIA, media_key(server, media_id), encode(record));
        if let Some(user) = &record.uploader {
            batch.put(
                USERID_MEDIA,
                KeyBuilder::new()
                    .str(user.as_str())
                    .u64(record.created_ms)
                    .str(media_id)
                    .build(),
                record.size.to_be_bytes(),
            );
        }
        if let Some(sha256) = &record.sha256 {
            batch.put(
                SHA256_MEDIAREF,
                reference_key(sha256, server, media_id, FILE_REFERENCE),
                Vec::new(),
            );
        }
    }

    /// Queues removing a media id with its thumbnails and references; returns the content
    /// hashes it referred to (the caller deletes a file once nothing refers to it).
    pub fn delete_media(
        &self,
        batch: &mut WriteBatch,
        server: &ServerName,
        media_id: &str,
        record: &MediaRecord,
    ) -> Result<Vec<String>> {
        batch.delete(SERVERMEDIAID_MEDIA, media_key(server, media_id));
        if let Some(user) = &record.uploader {
            batch.delete(
                USERID_MEDIA,
                KeyBuilder::new()
                    .str(user.as_str())
                    .u64(record.created_ms)
                    .str(media_id)
                    .build(),
            );
        }
        let mut hashes = Vec::new();
        if let Some(sha256) = &record.sha256 {
            batch.delete(SHA256_MEDIAREF, reference_key(sha256, server, media_id, FILE_REFERENCE));
            hashes.push(sha256.clone());
        }
        let prefix = KeyBuilder::new().str(server.as_str()).str(media_id).prefix();
        for (key, thumbnail) in self.scan_json::<ThumbnailRecord>(SERVERMEDIAID_THUMBNAIL, &prefix)? {
            let (width, height, method) = decode_thumbnail_key(&key)?;
            batch.delete(SERVERMEDIAID_THUMBNAIL, key);
            batch.delete(
                SHA256_MEDIAREF,
                reference_key(
                    &thumbnail.sha256,
                    server,
                    media_id,
                    &thumbnail_reference(width, height, &method),
                ),
            );
            hashes.push(thumbnail.sha256);
        }
        Ok(hashes)
    }

    /// A thumbnail made of a media id for a size.
    pub fn get_thumbnail(
        &self,
        server: &ServerName,
        media_id: &str,
        width: u32,
        height: u32,
        method: &str,
    ) -> Result<Option<ThumbnailRecord>> {
        self.get_json(
            SERVERMEDIAID_THUMBNAIL,
            &thumbnail_key(server, media_id, width, height, method),
        )
    }

    /// Queues storing a thumbnail and its reference on its file.
    pub fn put_thumbnail(
        &self,
        batch: &mut WriteBatch,
        server: &ServerName,
        media_id: &str,
        (width, height, method): (u32, u32, &str),
        record: &ThumbnailRecord,
    ) {
        batch.put(
            SERVERMEDIAID_THUMBNAIL,
            thumbnail_key(server, media_id, width, height, method),
            encode(record),
        );
        batch.put(
            SHA256_MEDIAREF,
            reference_key(
                &record.sha256,
                server,
                media_id,
                &thumbnail_reference(width, height, method),
            ),
            Vec::new(),
        );
    }

    /// Whether anything still refers to the file with this hash.
    pub fn media_file_referenced(&self, sha256: &str) -> Result<bool> {
        let prefix = KeyBuilder::new().str(sha256).prefix();
        let mut refs = self
            .engine()
            .iter_prefix(SHA256_MEDIAREF, &prefix, accord_storage::Direction::Forward)?;
        Ok(refs.next().transpose()?.is_some())
    }

    /// A user's media ids with their sizes, oldest first.
    pub fn user_media(&self, user_id: &UserId) -> Result<Vec<(String, u64)>> {
        let prefix = KeyBuilder::new().str(user_id.as_str()).prefix();
        let corrupt = |reason: String| Error::Corrupt {
            table: USERID_MEDIA,
            reason,
        };
        let mut out = Vec::new();
        for (key, value) in self.scan_raw(USERID_MEDIA, &prefix)? {
            let mut reader = KeyReader::new(&key);
            reader.str().map_err(|e| corrupt(e.to_string()))?;
            reader.u64().map_err(|e| corrupt(e.to_string()))?;
            let media_id = reader.str().map_err(|e| corrupt(e.to_string()))?.to_owned();
            out.push((media_id, decode_count(USERID_MEDIA, &value)?));
        }
        Ok(out)
    }
}

impl Db {
    /// The ids of a user's media made at or after `since_ms`, oldest first (a range read: the
    /// user's older uploads are not touched).
    pub fn user_media_since(&self, user_id: &UserId, since_ms: u64) -> Result<Vec<String>> {
        let prefix = KeyBuilder::new().str(user_id.as_str()).prefix();
        let start = KeyBuilder::new().str(user_id.as_str()).u64(since_ms).build();
        let mut out = Vec::new();
        for item in self
            .engine()
            .iter_from(USERID_MEDIA, Some(&start), accord_storage::Direction::Forward)?
        {
            let (key, _) = item?;
            if !key.starts_with(&prefix) {
                break;
            }
            let mut reader = KeyReader::new(&key);
            let corrupt = |e: accord_storage::codec::CodecError| Error::Corrupt {
                table: USERID_MEDIA,
                reason: e.to_string(),
            };
            reader.str().map_err(corrupt)?;
            reader.u64().map_err(corrupt)?;
            out.push(reader.str().map_err(corrupt)?.to_owned());
        }
        Ok(out)
    }
}

impl Db {
    /// Every media record, with its server and id (an admin purge: a full scan).
    pub fn all_media(&self) -> Result<Vec<(ruma::OwnedServerName, String, MediaRecord)>> {
        let corrupt = |reason: String| Error::Corrupt {
            table: SERVERMEDIAID_MEDIA,
            reason,
        };
        let mut out = Vec::new();
        for (key, record) in self.scan_json::<MediaRecord>(SERVERMEDIAID_MEDIA, &[])? {
            let mut reader = KeyReader::new(&key);
            let server = reader.str().map_err(|e| corrupt(e.to_string()))?;
            let media_id = reader.str().map_err(|e| corrupt(e.to_string()))?.to_owned();
            let server = ruma::OwnedServerName::try_from(server).map_err(|e| corrupt(e.to_string()))?;
            out.push((server, media_id, record));
        }
        Ok(out)
    }
}

fn decode_thumbnail_key(key: &[u8]) -> Result<(u32, u32, String)> {
    let corrupt = |reason: String| Error::Corrupt {
        table: SERVERMEDIAID_THUMBNAIL,
        reason,
    };
    let mut reader = KeyReader::new(key);
    reader.str().map_err(|e| corrupt(e.to_string()))?;
    reader.str().map_err(|e| corrupt(e.to_string()))?;
    let width = reader.u64().map_err(|e| corrupt(e.to_string()))?;
    let height = reader.u64().map_err(|e| corrupt(e.to_string()))?;
    let method = reader.str().map_err(|e| corrupt(e.to_string()))?.to_owned();
    let dimension = |n: u64| u32::try_from(n).map_err(|e| corrupt(e.to_string()));
    Ok((dimension(width)?, dimension(height)?, method))
}
