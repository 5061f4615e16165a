//! The content repository on one server: uploads of images and a large binary served back
//! byte for byte with the spec's headers on the authenticated endpoints, the legacy endpoints'
//! freeze, filenames in Content-Disposition, thumbnails (decoded to check their size), and
//! asynchronous uploads.

use std::time::{Duration, Instant};

use accord_testkit::{TestServer, urlencode};
use http::Method;
use image::ImageFormat;
use sha2::{Digest, Sha256};

use crate::media_support::{fetch, image_bytes, media_path, upload};

#[tokio::test]
async fn images_and_a_large_file_come_back_intact_with_the_spec_headers() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let big: Vec<u8> = (0..20 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let files = [
        (
            image_bytes(64, 48, ImageFormat::Png),
            "image/png",
            "cat.png",
            "inline; filename=cat.png",
        ),
        (
            image_bytes(64, 48, ImageFormat::Jpeg),
            "image/jpeg",
            "cat.jpg",
            "inline; filename=cat.jpg",
        ),
        (
            image_bytes(64, 48, ImageFormat::Gif),
            "image/gif",
            "cat.gif",
            "inline; filename=cat.gif",
        ),
        (
            big,
            "application/octet-stream",
            "data.bin",
            "attachment; filename=data.bin",
        ),
    ];
    for (bytes, content_type, name, disposition) in files {
        let mxc = upload(&server, &alice, bytes.clone(), content_type, Some(name)).await;
        assert!(
            mxc.starts_with(&format!("mxc://{}/", server.config.server_name)),
            "{mxc}"
        );
        let got = fetch(
            &server,
            &format!("/_matrix/client/v1/media/download/{}", media_path(&mxc)),
            Some(&alice.token),
        )
        .await;
        assert_eq!(got.status, 200, "{content_type}");
        assert_eq!(
            Sha256::digest(&got.bytes),
            Sha256::digest(&bytes),
            "{content_type}: same bytes"
        );
        assert_eq!(got.header("content-type"), content_type);
        assert_eq!(got.header("content-length"), bytes.len().to_string());
        assert_eq!(got.header("content-disposition"), disposition);
        assert!(
            got.header("content-security-policy").starts_with("sandbox;"),
            "{:?}",
            got.headers
        );
        assert_eq!(got.header("cross-origin-resource-policy"), "cross-origin");
        assert_eq!(got.header("x-content-type-options"), "nosniff");
        // Uploaded while authenticated media is on (the default): the legacy endpoint, which
        // needs no token, does not serve it (spec v1.11's freeze).
        let legacy = fetch(
            &server,
            &format!("/_matrix/media/v3/download/{}", media_path(&mxc)),
            None,
        )
        .await;
        assert_eq!(
            (legacy.status, legacy.json()["errcode"].as_str()),
            (404, Some("M_NOT_FOUND"))
        );
    }
    // The same bytes uploaded twice are one file on disk.
    let png = image_bytes(10, 10, ImageFormat::Png);
    let first = upload(&server, &alice, png.clone(), "image/png", None).await;
    let second = upload(&server, &alice, png, "image/png", None).await;
    assert_ne!(first, second, "two ids");
    let blobs = crate::media_support::files_under(&server.config.media_path().join("blobs"));
    assert_eq!(blobs.len(), 5, "four distinct uploads and one shared file: {blobs:?}");
    let config = server
        .get("/_matrix/client/v1/media/config", Some(&alice.token))
        .await
        .ok();
    assert_eq!(config["m.upload.size"], 50 * 1024 * 1024);
    let legacy_config = server.get("/_matrix/media/v3/config", Some(&alice.token)).await.ok();
    assert_eq!(legacy_config["m.upload.size"], 50 * 1024 * 1024);
}

#[tokio::test]
async fn filenames_round_trip_and_only_safe_types_are_inline() {
    // With the freeze off, as Complement runs: the legacy endpoints serve new uploads too.
    let server = TestServer::start_with(|config| config.media.enable_authenticated_media = false).await;
    let alice = server.register("alice", "pw-alice-1").await;
    let cases = [
        ("ascii", "inline; filename=ascii"),
        ("name with spaces", "inline; filename=\"name with spaces\""),
        ("name;with;semicolons", "inline; filename=\"name;with;semicolons\""),
        ("🐔", "inline; filename*=utf-8''%F0%9F%90%94"),
        ("../../etc/passwd", "inline; filename=\"../../etc/passwd\""),
    ];
    for (name, disposition) in cases {
        let mxc = upload(&server, &alice, b"hello".to_vec(), "text/plain", Some(name)).await;
        for path in [
            format!("/_matrix/client/v1/media/download/{}", media_path(&mxc)),
            format!("/_matrix/media/v3/download/{}", media_path(&mxc)),
        ] {
            let got = fetch(&server, &path, Some(&alice.token)).await;
            assert_eq!(got.status, 200, "{path}");
            assert_eq!(got.header("content-disposition"), disposition, "{name} via {path}");
            assert_eq!(got.bytes, b"hello");
        }
        // A name in the path replaces the stored one.
        let renamed = fetch(
            &server,
            &format!(
                "/_matrix/client/v1/media/download/{}/{}",
                media_path(&mxc),
                urlencode("☕")
            ),
            Some(&alice.token),
        )
        .await;
        assert_eq!(
            renamed.header("content-disposition"),
            "inline; filename*=utf-8''%E2%98%95"
        );
    }
    // No name: a bare disposition that still parses. Unsafe types are attachments; the type
    // comes back exactly as uploaded, odd or not.
    for (content_type, disposition) in [
        ("text/plain", "inline"),
        ("Text/Plain; charset=utf-8", "inline"),
        ("text/html", "attachment"),
        ("image/svg+xml", "attachment"),
        ("img/png", "attachment"),
    ] {
        let mxc = upload(&server, &alice, b"<b>x</b>".to_vec(), content_type, None).await;
        let got = fetch(
            &server,
            &format!("/_matrix/media/v3/download/{}", media_path(&mxc)),
            None,
        )
        .await;
        assert_eq!(got.header("content-disposition"), disposition, "{content_type}");
        assert_eq!(got.header("content-type"), content_type);
    }
    // No Content-Type at all: served as application/octet-stream.
    let bare = server
        .request_raw(
            Method::POST,
            "/_matrix/media/v3/upload",
            Some(&alice.token),
            None,
            Some(b"raw".to_vec()),
        )
        .await;
    let mxc = bare.json()["content_uri"].as_str().expect("content_uri").to_owned();
    let got = fetch(
        &server,
        &format!("/_matrix/media/v3/download/{}", media_path(&mxc)),
        None,
    )
    .await;
    assert_eq!(got.header("content-type"), "application/octet-stream");
}

#[tokio::test]
async fn thumbnails_have_the_requested_sizes_and_are_made_once() {
    let server = TestServer::start_with(|config| config.media.enable_authenticated_media = false).await;
    let alice = server.register("alice", "pw-alice-1").await;
    let thumbnail = |mxc: &str, query: &str| format!("/_matrix/client/v1/media/thumbnail/{}?{query}", media_path(mxc));
    for (format, content_type, thumb_type) in [
        (ImageFormat::Png, "image/png", "image/png"),
        (ImageFormat::Jpeg, "image/jpeg", "image/jpeg"),
        (ImageFormat::Gif, "image/gif", "image/png"),
        (ImageFormat::WebP, "image/webp", "image/png"),
    ] {
        let mxc = upload(
            &server,
            &alice,
            image_bytes(1000, 500, format),
            content_type,
            Some("big"),
        )
        .await;
        // (request, expected size): crop fills the box exactly; scale fits inside the
        // configured box at least as large as asked (320x240 -> 320x160 for 2:1).
        for (query, expected) in [
            ("width=32&height=32&method=crop", (32, 32)),
            ("width=50&height=50&method=crop", (96, 96)),
            ("width=32&height=32&method=scale", (320, 160)),
            ("width=600&height=400&method=scale", (640, 320)),
            ("width=5000&height=5000&method=scale", (800, 400)),
        ] {
            let got = fetch(&server, &thumbnail(&mxc, query), Some(&alice.token)).await;
            assert_eq!(
                got.status,
                200,
                "{content_type} {query}: {}",
                String::from_utf8_lossy(&got.bytes)
            );
            assert_eq!(got.header("content-type"), thumb_type, "{content_type} {query}");
            assert!(
                got.header("content-disposition").starts_with("inline"),
                "{:?}",
                got.headers
            );
            let decoded = image::load_from_memory(&got.bytes).expect("a real image");
            assert_eq!((decoded.width(), decoded.height()), expected, "{content_type} {query}");
        }
        // The same request again: the same bytes, from the store (and by the legacy path).
        let once = fetch(
            &server,
            &thumbnail(&mxc, "width=32&height=32&method=scale"),
            Some(&alice.token),
        )
        .await;
        let again = fetch(
            &server,
            &format!(
                "/_matrix/media/v3/thumbnail/{}?width=32&height=32&method=scale",
                media_path(&mxc)
            ),
            None,
        )
        .await;
        assert_eq!(once.bytes, again.bytes);
    }
    // A small image is never upscaled.
    let small = upload(
        &server,
        &alice,
        image_bytes(20, 10, ImageFormat::Png),
        "image/png",
        None,
    )
    .await;
    let got = fetch(
        &server,
        &thumbnail(&small, "width=640&height=480&method=scale"),
        Some(&alice.token),
    )
    .await;
    let decoded = image::load_from_memory(&got.bytes).expect("png");
    assert_eq!((decoded.width(), decoded.height()), (20, 10));
}

#[tokio::test]
async fn asynchronous_uploads_follow_the_spec() {
    let server = TestServer::start_with(|config| config.media.enable_authenticated_media = false).await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    let created = server
        .post("/_matrix/media/v1/create", Some(&alice.token), serde_json::json!({}))
        .await
        .ok();
    let mxc = created["content_uri"].as_str().expect("content_uri").to_owned();
    let expires = created["unused_expires_at"].as_u64().expect("unused_expires_at");
    let now = accord_core::time::now_millis();
    assert!(
        expires > now + 23 * 3600 * 1000 && expires <= now + 24 * 3600 * 1000 + 1000,
        "{expires}"
    );
    let download = format!("/_matrix/media/v3/download/{}", media_path(&mxc));
    let upload_path = format!("/_matrix/media/v3/upload/{}?filename=test.png", media_path(&mxc));

    // Not uploaded yet: 504 after the wait asked for (Synapse's words, which Complement checks).
    let started = Instant::now();
    let early = fetch(&server, &format!("{download}?timeout_ms=300"), None).await;
    assert_eq!(early.status, 504);
    assert_eq!(early.json()["errcode"], "M_NOT_YET_UPLOADED");
    assert_eq!(early.json()["error"], "Media has not been uploaded yet");
    assert!(started.elapsed() >= Duration::from_millis(300), "it waited");

    // Someone else can't upload to it.
    let png = image_bytes(8, 8, ImageFormat::Png);
    let stolen = server
        .request_raw(
            Method::PUT,
            &upload_path,
            Some(&bob.token),
            Some("image/png"),
            Some(png.clone()),
        )
        .await;
    assert_eq!(
        (stolen.status, stolen.json()["errcode"].as_str()),
        (403, Some("M_FORBIDDEN"))
    );

    // A download waiting for it gets it as soon as it arrives.
    let waiting = {
        let url = format!("{}{download}?timeout_ms=10000", server.base_url);
        tokio::spawn(async move { reqwest::get(url).await.expect("download").bytes().await.expect("body") })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let put = server
        .request_raw(
            Method::PUT,
            &upload_path,
            Some(&alice.token),
            Some("image/png"),
            Some(png.clone()),
        )
        .await;
    assert_eq!((put.status, put.json()), (200, serde_json::json!({})));
    assert_eq!(waiting.await.expect("joined").to_vec(), png);
    let got = fetch(
        &server,
        &format!("/_matrix/client/v1/media/download/{}", media_path(&mxc)),
        Some(&alice.token),
    )
    .await;
    assert_eq!(
        (got.header("content-type"), got.header("content-disposition")),
        ("image/png", "inline; filename=test.png")
    );

    // Once: a second upload, even without a body, is 409 (checked before the body).
    let again = server
        .request_raw(
            Method::PUT,
            &upload_path,
            Some(&alice.token),
            Some("application/json"),
            None,
        )
        .await;
    assert_eq!(
        (again.status, again.json()["errcode"].as_str()),
        (409, Some("M_CANNOT_OVERWRITE_MEDIA"))
    );
    // Unknown ids and other servers' ids.
    let unknown = server
        .request_raw(
            Method::PUT,
            &format!("/_matrix/media/v3/upload/{}/nosuchid", server.config.server_name),
            Some(&alice.token),
            Some("image/png"),
            Some(png.clone()),
        )
        .await;
    assert_eq!(
        (unknown.status, unknown.json()["errcode"].as_str()),
        (404, Some("M_NOT_FOUND"))
    );
    let foreign = server
        .request_raw(
            Method::PUT,
            "/_matrix/media/v3/upload/elsewhere.example/abc",
            Some(&alice.token),
            Some("image/png"),
            Some(png),
        )
        .await;
    assert_eq!(foreign.status, 403);

    // At most five reserved ids without a file per user (media.max_pending_uploads).
    for _ in 0..5 {
        server
            .post("/_matrix/media/v1/create", Some(&bob.token), serde_json::json!({}))
            .await
            .ok();
    }
    let sixth = server
        .post("/_matrix/media/v1/create", Some(&bob.token), serde_json::json!({}))
        .await;
    sixth.assert_error(429, "M_LIMIT_EXCEEDED");
}

/// TestRoomImageRoundtrip: an uploaded image sent as `m.file` is found by `/messages` with a
/// `contains_url` filter, alone, with `start` and `end` tokens (Synapse gives `end` whenever
/// the page has events).
#[tokio::test]
async fn messages_with_a_url_are_found_by_contains_url() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let mxc = upload(
        &server,
        &alice,
        image_bytes(16, 16, ImageFormat::Png),
        "image/png",
        None,
    )
    .await;
    let room = server.create_room(&alice, serde_json::json!({})).await;
    server.send_text(&alice, &room, "just words").await;
    let sent = server
        .put(
            &format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/file1"),
            Some(&alice.token),
            serde_json::json!({ "msgtype": "m.file", "body": "test.png", "url": mxc }),
        )
        .await
        .ok();
    for (wanted, expect_file) in [(true, true), (false, false)] {
        let filter = urlencode(&serde_json::json!({ "contains_url": wanted }).to_string());
        let page = server
            .get(
                &format!("/_matrix/client/v3/rooms/{room}/messages?dir=b&filter={filter}"),
                Some(&alice.token),
            )
            .await
            .ok();
        assert!(page["start"].is_string() && page["end"].is_string(), "{page}");
        let chunk = page["chunk"].as_array().expect("chunk");
        let has_file = chunk.iter().any(|e| e["event_id"] == sent["event_id"]);
        assert_eq!(has_file, expect_file, "{page}");
        if wanted {
            assert_eq!(chunk.len(), 1, "{page}");
        } else {
            assert!(chunk.iter().all(|e| e["content"]["url"].is_null()), "{page}");
        }
        // The page after it is empty and has no `end`.
        let next = server
            .get(
                &format!(
                    "/_matrix/client/v3/rooms/{room}/messages?dir=b&filter={filter}&from={}",
                    page["end"].as_str().unwrap_or_default()
                ),
                Some(&alice.token),
            )
            .await
            .ok();
        assert_eq!(next["chunk"].as_array().map(Vec::len), Some(0), "{next}");
        assert!(next.get("end").is_none(), "{next}");
    }
}
