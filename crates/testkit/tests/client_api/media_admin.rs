//! Media administration through Synapse's admin API shape: only admins; quarantined media is
//! served to nobody until released; deleting a media id or a user's media removes the records
//! and the files nothing else refers to; purging the remote cache drops cached partner files
//! (fetched again on the next request).

use accord_testkit::{TestServer, ca::TestCa};
use http::Method;
use image::ImageFormat;

use crate::media_support::{fetch, files_under, image_bytes, media_path, upload};

#[tokio::test]
async fn admins_quarantine_and_delete_media() {
    let server = TestServer::start().await;
    let admin = server.create_user("root", "pw-root-1", true).await;
    let alice = server.register("alice", "pw-alice-1").await;
    let png = image_bytes(50, 50, ImageFormat::Png);
    let mxc = upload(&server, &alice, png.clone(), "image/png", None).await;
    let copy = upload(&server, &alice, png.clone(), "image/png", None).await;
    let other = upload(&server, &alice, b"other".to_vec(), "text/plain", None).await;
    let download = |mxc: &str| format!("/_matrix/client/v1/media/download/{}", media_path(mxc));
    let thumb = format!(
        "/_matrix/client/v1/media/thumbnail/{}?width=32&height=32&method=crop",
        media_path(&mxc)
    );
    assert_eq!(fetch(&server, &thumb, Some(&alice.token)).await.status, 200);

    // Not an admin: 403.
    let quarantine = format!("/_synapse/admin/v1/media/quarantine/{}", media_path(&mxc));
    let refused = server
        .post(&quarantine, Some(&alice.token), serde_json::json!({}))
        .await;
    refused.assert_error(403, "M_FORBIDDEN");
    // Quarantined: 404 for the file and its thumbnail, for everyone, until released.
    server
        .post(&quarantine, Some(&admin.token), serde_json::json!({}))
        .await
        .ok();
    assert_eq!(fetch(&server, &download(&mxc), Some(&alice.token)).await.status, 404);
    assert_eq!(fetch(&server, &thumb, Some(&admin.token)).await.status, 404);
    let release = format!("/_synapse/admin/v1/media/unquarantine/{}", media_path(&mxc));
    server
        .post(&release, Some(&admin.token), serde_json::json!({}))
        .await
        .ok();
    assert_eq!(fetch(&server, &download(&mxc), Some(&alice.token)).await.bytes, png);

    // Deleting one id: the other id with the same bytes keeps the shared file.
    let blobs = || files_under(&server.config.media_path().join("blobs")).len();
    let before = blobs();
    let deleted = server
        .request(
            Method::DELETE,
            &format!("/_synapse/admin/v1/media/{}", media_path(&mxc)),
            Some(&admin.token),
            None,
        )
        .await
        .ok();
    assert_eq!(deleted["total"], 1);
    assert_eq!(fetch(&server, &download(&mxc), Some(&alice.token)).await.status, 404);
    assert_eq!(fetch(&server, &download(&copy), Some(&alice.token)).await.bytes, png);
    assert_eq!(
        blobs(),
        before - 1,
        "the thumbnail's file went, the shared original stayed"
    );

    // Deleting alice's media: the rest goes, files included.
    let user_media = format!(
        "/_synapse/admin/v1/users/{}/media",
        accord_testkit::urlencode(&alice.user_id)
    );
    let deleted = server
        .request(Method::DELETE, &user_media, Some(&admin.token), None)
        .await
        .ok();
    assert_eq!(deleted["total"], 2, "{deleted}");
    for gone in [&copy, &other] {
        assert_eq!(fetch(&server, &download(gone), Some(&alice.token)).await.status, 404);
    }
    assert_eq!(blobs(), 0);
}

#[tokio::test]
async fn purging_the_remote_cache_drops_partner_files_until_asked_again() {
    let ca = TestCa::new();
    let a = TestServer::start_federating(&ca, |_| {}).await;
    let b = TestServer::start_federating(&ca, |_| {}).await;
    let admin = a.create_user("root", "pw-root-1", true).await;
    let alice = a.register("alice", "pw-alice-1").await;
    let bob = b.register("bob", "pw-bob-1").await;
    let mine = upload(&a, &alice, b"local".to_vec(), "text/plain", None).await;
    let theirs = upload(&b, &bob, b"remote".to_vec(), "text/plain", None).await;
    let path = format!("/_matrix/client/v1/media/download/{}", media_path(&theirs));
    assert_eq!(fetch(&a, &path, Some(&alice.token)).await.bytes, b"remote");
    assert_eq!(files_under(&a.config.media_path().join("blobs")).len(), 2);
    let before_ts = accord_core::time::now_millis() + 1000;
    let purged = a
        .post(
            &format!("/_synapse/admin/v1/purge_media_cache?before_ts={before_ts}"),
            Some(&admin.token),
            serde_json::json!({}),
        )
        .await
        .ok();
    assert_eq!(purged["deleted"], 1, "{purged}");
    assert_eq!(
        files_under(&a.config.media_path().join("blobs")).len(),
        1,
        "only the local file is left"
    );
    assert_eq!(
        fetch(
            &a,
            &format!("/_matrix/client/v1/media/download/{}", media_path(&mine)),
            Some(&alice.token)
        )
        .await
        .bytes,
        b"local"
    );
    // Asked again, it is fetched again.
    assert_eq!(fetch(&a, &path, Some(&alice.token)).await.bytes, b"remote");
}
