//! Media across two Accord servers: a file uploaded on B is downloaded and thumbnailed through
//! A over authenticated federation media (name and type intact), concurrent requests share one
//! fetch, B's federation thumbnail is the very bytes its own clients get, and a legacy request
//! on A falls back to the federation endpoint when B's legacy one refuses.

use accord_testkit::{TestServer, ca::TestCa};
use image::ImageFormat;
use ruma::{
    UInt,
    api::federation::authenticated_media::{
        FileOrLocation, get_content::v1 as download, get_content_thumbnail::v1 as thumbnail,
    },
};

use crate::{
    federation_support::origin,
    media_support::{fetch, image_bytes, media_path, upload},
};

#[tokio::test]
async fn a_partners_files_and_thumbnails_come_through_federation() {
    let ca = TestCa::new();
    let a = TestServer::start_federating(&ca, |_| {}).await;
    let b = TestServer::start_federating(&ca, |_| {}).await;
    let alice = a.register("alice", "pw-alice-1").await;
    let bob = b.register("bob", "pw-bob-1").await;
    let png = image_bytes(400, 300, ImageFormat::Png);
    let mxc = upload(&b, &bob, png.clone(), "image/png", Some("🐔")).await;
    assert!(mxc.starts_with(&format!("mxc://{}/", origin(&b))), "{mxc}");

    // Ten at once through A: every one gets the whole file, with B's name and type.
    let path = format!("/_matrix/client/v1/media/download/{}", media_path(&mxc));
    let downloads = (0..10).map(|_| fetch(&a, &path, Some(&alice.token)));
    for got in futures::future::join_all(downloads).await {
        assert_eq!(got.status, 200, "{}", String::from_utf8_lossy(&got.bytes));
        assert_eq!(got.bytes, png);
        assert_eq!(got.header("content-type"), "image/png");
        assert_eq!(
            got.header("content-disposition"),
            "inline; filename*=utf-8''%F0%9F%90%94"
        );
    }
    // Cached on A: one record of B's file, one file in A's store.
    let blobs = crate::media_support::files_under(&a.config.media_path().join("blobs"));
    assert_eq!(blobs.len(), 1, "{blobs:?}");
    // An odd type survives the trip too (Complement's TestContentMediaV1 uses `img/png`).
    let odd = upload(&b, &bob, b"not really".to_vec(), "img/png", None).await;
    let got = fetch(
        &a,
        &format!("/_matrix/client/v1/media/download/{}", media_path(&odd)),
        Some(&alice.token),
    )
    .await;
    assert_eq!((got.status, got.header("content-type")), (200, "img/png"));

    // A thumbnail of B's image, made on A from the fetched original.
    let thumb = fetch(
        &a,
        &format!(
            "/_matrix/client/v1/media/thumbnail/{}?width=32&height=32&method=crop",
            media_path(&mxc)
        ),
        Some(&alice.token),
    )
    .await;
    assert_eq!(thumb.status, 200);
    let decoded = image::load_from_memory(&thumb.bytes).expect("png");
    assert_eq!((decoded.width(), decoded.height()), (32, 32));

    // B's federation thumbnail (TestFederationThumbnail): multipart, the image part the very
    // bytes B's own client gets for the same request.
    let on_b = fetch(
        &b,
        &format!(
            "/_matrix/client/v1/media/thumbnail/{}?width=32&height=32&method=scale",
            media_path(&mxc)
        ),
        Some(&bob.token),
    )
    .await;
    let media_id = mxc.rsplit('/').next().expect("id").to_owned();
    let federation = a.running().services.federation.as_ref().expect("federation");
    let mut request = thumbnail::Request::new(media_id.clone(), UInt::from(32u32), UInt::from(32u32));
    request.method = Some(ruma::media::Method::Scale);
    let answer = federation
        .client()
        .send(&origin(&b), request)
        .await
        .expect("federation thumbnail");
    let FileOrLocation::File(content) = answer.content else {
        panic!("a file, not a redirect")
    };
    assert_eq!(content.content_type.as_deref(), Some("image/png"));
    assert_eq!(content.file, on_b.bytes);
    // And the original by the federation download, with its name.
    let answer = federation
        .client()
        .send(&origin(&b), download::Request::new(media_id))
        .await
        .expect("federation download");
    let FileOrLocation::File(content) = answer.content else {
        panic!("a file")
    };
    assert_eq!(content.file, png);
    assert_eq!(
        content.content_disposition.and_then(|d| d.filename).as_deref(),
        Some("🐔")
    );
    // A's own files are not B's to serve: B answers 404 for an id of A's.
    let mine = upload(&a, &alice, b"a's".to_vec(), "text/plain", None).await;
    let refused = federation
        .client()
        .send(
            &origin(&b),
            download::Request::new(mine.rsplit('/').next().expect("id").to_owned()),
        )
        .await;
    assert!(
        matches!(refused, Err(accord_federation::Error::Remote { status: 404, .. })),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_legacy_request_falls_back_to_federation_media() {
    let ca = TestCa::new();
    // A serves the legacy endpoints (freeze off); B keeps the default freeze, so its legacy
    // download refuses its new files and A must use the federation endpoint.
    let a = TestServer::start_federating(&ca, |config| config.media.enable_authenticated_media = false).await;
    let b = TestServer::start_federating(&ca, |_| {}).await;
    let bob = b.register("bob", "pw-bob-1").await;
    let mxc = upload(&b, &bob, b"plain text".to_vec(), "text/plain", Some("note.txt")).await;
    let got = fetch(&a, &format!("/_matrix/media/v3/download/{}", media_path(&mxc)), None).await;
    assert_eq!(got.status, 200, "{}", String::from_utf8_lossy(&got.bytes));
    assert_eq!(got.bytes, b"plain text");
    assert_eq!(got.header("content-disposition"), "inline; filename=note.txt");
    // allow_remote=false: only what A has already.
    let other = upload(&b, &bob, b"other".to_vec(), "text/plain", None).await;
    let local_only = fetch(
        &a,
        &format!("/_matrix/media/v3/download/{}?allow_remote=false", media_path(&other)),
        None,
    )
    .await;
    assert_eq!(local_only.status, 404);
}

#[tokio::test]
async fn a_large_partner_file_streams_through_and_one_over_the_limit_is_not_kept() {
    let ca = TestCa::new();
    // A accepts at most 16 MiB; B up to its default 50 MiB.
    let a = TestServer::start_federating(&ca, |config| config.media.max_upload_size = 16 * 1024 * 1024).await;
    let b = TestServer::start_federating(&ca, |_| {}).await;
    let alice = a.register("alice", "pw-alice-1").await;
    let bob = b.register("bob", "pw-bob-1").await;
    // Bytes that contain what looks like a multipart delimiter, many times over.
    let pattern = b"\r\n--accord-\r\n--".repeat(1024);
    let file: Vec<u8> = pattern.iter().copied().cycle().take(12 * 1024 * 1024 + 7).collect();
    let mxc = upload(&b, &bob, file.clone(), "application/octet-stream", Some("data.bin")).await;
    let got = fetch(
        &a,
        &format!("/_matrix/client/v1/media/download/{}", media_path(&mxc)),
        Some(&alice.token),
    )
    .await;
    assert_eq!(got.status, 200, "{}", String::from_utf8_lossy(&got.bytes));
    assert!(got.bytes == file, "the 12 MiB file came through intact");
    assert_eq!(got.header("content-disposition"), "attachment; filename=data.bin");

    // 20 MiB on B is more than A keeps: refused, and nothing stored on A.
    let blobs_before = crate::media_support::files_under(&a.config.media_path().join("blobs"));
    let large = upload(&b, &bob, vec![7u8; 20 * 1024 * 1024], "application/octet-stream", None).await;
    let refused = fetch(
        &a,
        &format!("/_matrix/client/v1/media/download/{}", media_path(&large)),
        Some(&alice.token),
    )
    .await;
    assert_eq!(refused.status, 413, "{}", String::from_utf8_lossy(&refused.bytes));
    assert!(String::from_utf8_lossy(&refused.bytes).contains("M_TOO_LARGE"));
    let blobs_after = crate::media_support::files_under(&a.config.media_path().join("blobs"));
    assert_eq!(blobs_before, blobs_after, "nothing of the refused file kept");
    let tmp = crate::media_support::files_under(&a.config.media_path().join("tmp"));
    assert!(tmp.is_empty(), "{tmp:?}");
}
