//! Media files: where their bytes live (content-addressed, behind [`BlobStore`]: a directory,
//! [`LocalFiles`] here, or an S3-compatible bucket in `accord-media-s3`), thumbnails (decoding with a pixel
//! limit checked before any decode), how a file is served (inline only for safe types,
//! filenames in `Content-Disposition`), the streamed `multipart/mixed` of federation media,
//! and the OpenGraph fields of web pages for previews.
//!
//! Invariants: no database and no HTTP server here (metadata is `accord-db`'s, handlers are
//! `accord-api`'s); a blob is visible under its name only once completely written and synced,
//! so a crash never exposes half a file; nothing reads a whole upload into memory except a
//! thumbnail's source image, whose size the caller bounds.

/// Bytes read from a stored file per chunk sent (tokio's default of 4 KiB makes a download
/// thousands of tiny writes; 256 KiB keeps a 10 MiB file to 40).
pub const READ_CHUNK: usize = 256 * 1024;

mod error;
mod ids;
mod multipart;
mod opengraph;
mod serving;
mod store;
mod thumbnail;

pub use error::{Error, Result};
pub use ids::{is_valid_media_id, new_media_id};
pub use multipart::{
    MultipartError, RemotePart, boundary_of, multipart_body, multipart_content_type, new_boundary, read_multipart,
};
pub use opengraph::open_graph;
pub use serving::{SECURITY_HEADERS, content_disposition, disposition, is_inline_safe};
pub use store::{BlobStore, BodyStream, ContentHash, LocalFiles, Measured, ReadStream, StoredBlob, write_bytes};
pub use thumbnail::{Method, Thumbnail, ThumbnailSize, choose_size, image_dimensions, make_thumbnail};
