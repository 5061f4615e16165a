//! Shared pieces of the media tests: uploading, splitting `mxc://` URIs, and test images.

use std::io::Cursor;

use accord_testkit::{RawReply, TestServer, TestUser, urlencode};
use http::Method;
use image::{DynamicImage, ImageBuffer, ImageFormat, Rgba};

/// Uploads `bytes` with `POST /_matrix/media/v3/upload`; the raw answer.
pub async fn upload_raw(
    server: &TestServer,
    user: &TestUser,
    bytes: Vec<u8>,
    content_type: &str,
    filename: Option<&str>,
) -> RawReply {
    let path = match filename {
        Some(name) => format!("/_matrix/media/v3/upload?filename={}", urlencode(name)),
        None => "/_matrix/media/v3/upload".to_owned(),
    };
    server
        .request_raw(Method::POST, &path, Some(&user.token), Some(content_type), Some(bytes))
        .await
}

/// Uploads and returns the `mxc://` URI (panics unless 200).
pub async fn upload(
    server: &TestServer,
    user: &TestUser,
    bytes: Vec<u8>,
    content_type: &str,
    filename: Option<&str>,
) -> String {
    let reply = upload_raw(server, user, bytes, content_type, filename).await;
    assert_eq!(reply.status, 200, "upload: {}", String::from_utf8_lossy(&reply.bytes));
    reply.json()["content_uri"].as_str().expect("content_uri").to_owned()
}

/// `server/media_id` of an `mxc://` URI.
pub fn media_path(mxc: &str) -> String {
    mxc.strip_prefix("mxc://").expect("an mxc uri").to_owned()
}

/// `GET` with the token (authenticated endpoints) or without (legacy ones).
pub async fn fetch(server: &TestServer, path: &str, token: Option<&str>) -> RawReply {
    server.request_raw(Method::GET, path, token, None, None).await
}

/// A `width`x`height` image in `format`, a gradient (so scaling has something to average).
pub fn image_bytes(width: u32, height: u32, format: ImageFormat) -> Vec<u8> {
    let image = ImageBuffer::from_fn(width, height, |x, y| {
        Rgba([
            (x * 255 / width.max(1)) as u8,
            (y * 255 / height.max(1)) as u8,
            128,
            255,
        ])
    });
    let image = match format {
        ImageFormat::Jpeg => DynamicImage::ImageRgb8(DynamicImage::ImageRgba8(image).to_rgb8()),
        _ => DynamicImage::ImageRgba8(image),
    };
    let mut bytes = Vec::new();
    image.write_to(&mut Cursor::new(&mut bytes), format).expect("encode");
    bytes
}

/// A PNG that claims `width`x`height` pixels in its header but carries almost no data: what a
/// decompression bomb looks like before it is inflated.
pub fn png_header_only(width: u32, height: u32) -> Vec<u8> {
    let mut png = Vec::new();
    png.extend_from_slice(&[0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a]);
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]); // 8-bit greyscale, no interlace
    push_chunk(&mut png, b"IHDR", &ihdr);
    // One zlib stream of a few zero bytes: far from 400 million pixels' worth.
    push_chunk(
        &mut png,
        b"IDAT",
        &[0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01],
    );
    push_chunk(&mut png, b"IEND", &[]);
    png
}

fn push_chunk(png: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    png.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = png.len();
    png.extend_from_slice(kind);
    png.extend_from_slice(data);
    let crc = crc32(&png[start..]);
    png.extend_from_slice(&crc.to_be_bytes());
}

/// CRC-32 (IEEE), as PNG chunks carry it.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Every file under a directory (recursively), as paths.
pub fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}
