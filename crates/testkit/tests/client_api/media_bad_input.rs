//! Bad input to the content repository, each answered with the spec's error and nothing
//! half-kept: oversized and truncated uploads, thumbnails of what is no image or an image too
//! large to decode, ids that try to leave the store, missing and wrong tokens, unknown ids.

use std::time::{Duration, Instant};

use accord_testkit::TestServer;
use http::Method;
use image::ImageFormat;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::media_support::{fetch, files_under, image_bytes, media_path, png_header_only, upload, upload_raw};

/// Nothing stored and nothing left half-written under the server's media directory.
fn assert_media_dir_empty(server: &TestServer) {
    let dir = server.config.media_path();
    assert_eq!(
        files_under(&dir.join("blobs")),
        Vec::<std::path::PathBuf>::new(),
        "no file kept"
    );
    assert_eq!(
        files_under(&dir.join("tmp")),
        Vec::<std::path::PathBuf>::new(),
        "no temporary file left"
    );
}

/// Sends `head` and then `body` on a raw connection and returns what the server answered
/// (empty when it closed first).
async fn raw_exchange(server: &TestServer, head: String, body: &[u8], close_after: bool) -> String {
    let address = server.base_url.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(address).await.expect("connect");
    socket.write_all(head.as_bytes()).await.expect("head");
    socket.write_all(body).await.expect("body");
    if close_after {
        socket.shutdown().await.expect("shutdown");
    }
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), socket.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn oversized_and_truncated_uploads_keep_nothing() {
    let server = TestServer::start_with(|config| config.media.max_upload_size = 1024 * 1024).await;
    let alice = server.register("alice", "pw-alice-1").await;
    // Declared too large: refused from Content-Length, before the body.
    let declared = upload_raw(
        &server,
        &alice,
        vec![7u8; 2 * 1024 * 1024],
        "application/octet-stream",
        None,
    )
    .await;
    assert_eq!(
        (declared.status, declared.json()["errcode"].as_str()),
        (413, Some("M_TOO_LARGE"))
    );
    // Chunked, so only counting while streaming can catch it.
    let mut chunked = String::new();
    for _ in 0..20 {
        chunked.push_str(&format!("{:x}\r\n{}\r\n", 64 * 1024, "x".repeat(64 * 1024)));
    }
    chunked.push_str("0\r\n\r\n");
    let head = format!(
        "POST /_matrix/media/v3/upload HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\n\
         Content-Type: text/plain\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        alice.token
    );
    let answer = raw_exchange(&server, head, chunked.as_bytes(), false).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("M_TOO_LARGE"), "{answer}");
    // Truncated: 100 kB promised, 1 kB sent, connection closed.
    let head = format!(
        "POST /_matrix/media/v3/upload HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\n\
         Content-Type: text/plain\r\nContent-Length: 100000\r\n\r\n",
        alice.token
    );
    raw_exchange(&server, head, &[b'y'; 1000], true).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_media_dir_empty(&server);
    // The server goes on serving, and a file just under the limit is accepted.
    let fits = upload(
        &server,
        &alice,
        vec![1u8; 1024 * 1024],
        "application/octet-stream",
        None,
    )
    .await;
    assert!(fits.starts_with("mxc://"));
}

#[tokio::test]
async fn thumbnails_of_non_images_and_bombs_are_refused_without_decoding() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let text = upload(&server, &alice, b"just text".to_vec(), "text/plain", None).await;
    let reply = fetch(
        &server,
        &format!(
            "/_matrix/client/v1/media/thumbnail/{}?width=32&height=32",
            media_path(&text)
        ),
        Some(&alice.token),
    )
    .await;
    assert_eq!(
        (reply.status, reply.json()["errcode"].as_str()),
        (400, Some("M_UNKNOWN"))
    );
    // 20,000 x 20,000 pixels claimed (400 million): refused from the header alone, at once.
    let bomb = upload(
        &server,
        &alice,
        png_header_only(20_000, 20_000),
        "image/png",
        Some("bomb.png"),
    )
    .await;
    let started = Instant::now();
    let reply = fetch(
        &server,
        &format!(
            "/_matrix/client/v1/media/thumbnail/{}?width=32&height=32",
            media_path(&bomb)
        ),
        Some(&alice.token),
    )
    .await;
    assert_eq!(
        (reply.status, reply.json()["errcode"].as_str()),
        (413, Some("M_TOO_LARGE")),
        "{:?}",
        reply.json()
    );
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    // Missing or nonsensical sizes.
    let png = upload(
        &server,
        &alice,
        image_bytes(10, 10, ImageFormat::Png),
        "image/png",
        None,
    )
    .await;
    let thumbnail = format!("/_matrix/client/v1/media/thumbnail/{}", media_path(&png));
    let missing = fetch(&server, &thumbnail, Some(&alice.token)).await;
    assert_eq!(
        (missing.status, missing.json()["errcode"].as_str()),
        (400, Some("M_MISSING_PARAM"))
    );
    let zero = fetch(&server, &format!("{thumbnail}?width=0&height=10"), Some(&alice.token)).await;
    assert_eq!(zero.status, 400);
    let method = fetch(
        &server,
        &format!("{thumbnail}?width=10&height=10&method=stretch"),
        Some(&alice.token),
    )
    .await;
    assert_eq!(
        (method.status, method.json()["errcode"].as_str()),
        (400, Some("M_INVALID_PARAM"))
    );
    // The server is still fine.
    let ok = fetch(&server, &format!("{thumbnail}?width=10&height=10"), Some(&alice.token)).await;
    assert_eq!(ok.status, 200);
}

#[tokio::test]
async fn tokens_come_first_and_ids_never_leave_the_store() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let mxc = upload(&server, &alice, b"secret".to_vec(), "text/plain", None).await;
    let name = server.config.server_name.to_string();
    // No token or a wrong one: 401, whatever else is wrong with the request (Complement sends a
    // whole mxc URI as the id, and a thumbnail without its size).
    for path in [
        format!("/_matrix/client/v1/media/download/{}", media_path(&mxc)),
        format!("/_matrix/client/v1/media/download/{name}/mxc:%2F%2F{name}%2Fabc"),
        format!("/_matrix/client/v1/media/thumbnail/{}", media_path(&mxc)),
        "/_matrix/client/v1/media/config".to_owned(),
    ] {
        let missing = fetch(&server, &path, None).await;
        assert_eq!(
            (missing.status, missing.json()["errcode"].as_str()),
            (401, Some("M_MISSING_TOKEN")),
            "{path}"
        );
        let wrong = fetch(&server, &path, Some("not-a-token")).await;
        assert_eq!(
            (wrong.status, wrong.json()["errcode"].as_str()),
            (401, Some("M_UNKNOWN_TOKEN")),
            "{path}"
        );
    }
    for (method, path) in [
        (Method::POST, "/_matrix/media/v3/upload".to_owned()),
        (Method::POST, "/_matrix/media/v1/create".to_owned()),
        (Method::PUT, format!("/_matrix/media/v3/upload/{}", media_path(&mxc))),
    ] {
        let reply = server
            .request_raw(method, &path, None, Some("text/plain"), Some(b"x".to_vec()))
            .await;
        assert_eq!(reply.status, 401, "{path}");
    }
    // Ids that try to climb out of the store, or name nothing: 404, and the file system
    // outside is never read (the id alphabet has no `.` or `/`).
    // (A `..` segment, bare or as `%2E%2E`, never arrives: HTTP clients resolve it first.)
    for id in [
        "..%2F..%2F..%2Fetc%2Fpasswd",
        "..%5C..%5Cwin",
        "a%2Fb",
        "nosuchmedia",
        "%00",
    ] {
        for path in [
            format!("/_matrix/client/v1/media/download/{name}/{id}"),
            format!("/_matrix/client/v1/media/thumbnail/{name}/{id}?width=32&height=32"),
        ] {
            let reply = fetch(&server, &path, Some(&alice.token)).await;
            assert_eq!(reply.status, 404, "{path}: {:?}", reply.json());
            assert_eq!(reply.json()["errcode"], "M_NOT_FOUND", "{path}");
        }
    }
    let bad_server = fetch(
        &server,
        "/_matrix/client/v1/media/download/..%2Fetc/abc",
        Some(&alice.token),
    )
    .await;
    assert_eq!(bad_server.status, 404);
    // Federation off: another server's media is 404, nothing fetched.
    let remote = fetch(
        &server,
        "/_matrix/client/v1/media/download/elsewhere.example/abc",
        Some(&alice.token),
    )
    .await;
    assert_eq!(remote.status, 404);
}

#[tokio::test]
async fn quotas_and_upload_rates_are_enforced() {
    let server = TestServer::start_with(|config| {
        config.media.user_quota_bytes = 100_000;
        config.rate_limits.media_create = accord_core::config::BucketConfig {
            per_second: 4.0 / 60.0,
            burst_count: 4,
        };
    })
    .await;
    let alice = server.register("alice", "pw-alice-1").await;
    upload(&server, &alice, vec![1u8; 60_000], "application/octet-stream", None).await;
    // 60 kB used of 100 kB: 50 kB more does not fit.
    let over = upload_raw(&server, &alice, vec![2u8; 50_000], "application/octet-stream", None).await;
    assert_eq!(
        (over.status, over.json()["errcode"].as_str()),
        (413, Some("M_TOO_LARGE"))
    );
    upload(&server, &alice, vec![3u8; 30_000], "application/octet-stream", None).await;
    // Four uploads a minute (the refused one counted): the next is 429 with a wait.
    upload(&server, &alice, vec![4u8; 10], "application/octet-stream", None).await;
    let limited = upload_raw(&server, &alice, vec![5u8; 10], "application/octet-stream", None).await;
    assert_eq!(
        (limited.status, limited.json()["errcode"].as_str()),
        (429, Some("M_LIMIT_EXCEEDED"))
    );
    assert!(
        limited.json()["retry_after_ms"]
            .as_u64()
            .is_some_and(|ms| ms > 0 && ms <= 15_000),
        "{}",
        limited.json()
    );
    // Another user has an allowance of their own.
    let bob = server.register("bob", "pw-bob-1").await;
    upload(&server, &bob, vec![6u8; 10], "application/octet-stream", None).await;
}
