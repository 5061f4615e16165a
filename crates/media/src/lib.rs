//! Media files: where their bytes live (content-addressed, behind [`BlobStore`], so an
//! S3-compatible backend can stand beside [`LocalFiles`]), thumbnails (decoding with a pixel
//! limit checked before any decode), and how a file is served (inline only for safe types,
//! filenames in `Content-Disposition`), and the OpenGraph fields of web pages for previews.
//!
//! Invariants: no database and no HTTP server here (metadata is `accord-db`'s, handlers are
//! `accord-api`'s); a blob is visible under its name only once completely written and synced,
//! so a crash never exposes half a file; nothing reads a whole upload into memory except a
//! thumbnail's source image, whose size the caller bounds.

mod error;
mod ids;
mod opengraph;
mod serving;
mod store;
mod thumbnail;

pub use error::{Error, Result};
pub use ids::{is_valid_media_id, new_media_id};
pub use opengraph::open_graph;
pub use serving::{SECURITY_HEADERS, content_disposition, disposition, is_inline_safe};
pub use store::{BlobStore, BodyStream, ContentHash, LocalFiles, ReadStream, StoredBlob, write_bytes};
pub use thumbnail::{Method, Thumbnail, ThumbnailSize, choose_size, image_dimensions, make_thumbnail};
