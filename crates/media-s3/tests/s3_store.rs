//! `S3Store` against a real S3-compatible server. Run by `tests/s3/run.sh`, which starts moto's
//! S3 server on loopback, creates a bucket and sets `ACCORD_TEST_S3_ENDPOINT` and
//! `ACCORD_TEST_S3_BUCKET`; ignored in a plain `cargo test` (there is no server to talk to).

use std::sync::Arc;

use accord_media::{BlobStore, BodyStream, Error, write_bytes};
use accord_media_s3::{S3Settings, S3Store};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::{ObjectStore, ObjectStoreExt, aws::AmazonS3Builder, path::Path};
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run this through tests/s3/run.sh"))
}

/// Settings for the test server, under a prefix of the test's own.
fn settings(prefix: &str) -> S3Settings {
    S3Settings {
        endpoint: Some(env("ACCORD_TEST_S3_ENDPOINT")),
        bucket: env("ACCORD_TEST_S3_BUCKET"),
        region: "us-east-1".to_owned(),
        access_key_id: "accord-test".to_owned(),
        secret_access_key: "accord-test-secret".to_owned(),
        prefix: prefix.to_owned(),
        ca_pem: None,
    }
}

/// A second client on the same bucket, to look at what the store left there.
fn inspector() -> Arc<dyn ObjectStore> {
    Arc::new(
        AmazonS3Builder::new()
            .with_endpoint(env("ACCORD_TEST_S3_ENDPOINT"))
            .with_allow_http(true)
            .with_bucket_name(env("ACCORD_TEST_S3_BUCKET"))
            .with_region("us-east-1")
            .with_access_key_id("accord-test")
            .with_secret_access_key("accord-test-secret")
            .build()
            .expect("inspector client"),
    )
}

async fn keys_under(prefix: &str) -> Vec<String> {
    let prefix = Path::from(prefix);
    let mut keys: Vec<String> = inspector()
        .list(Some(&prefix))
        .map_ok(|meta| meta.location.to_string())
        .try_collect()
        .await
        .expect("list");
    keys.sort();
    keys
}

fn chunks(parts: Vec<std::io::Result<Bytes>>) -> BodyStream {
    Box::pin(futures::stream::iter(parts))
}

/// `total` pseudo-random bytes in chunks of 64 KiB, as an upload would arrive.
fn large_body(total: usize, seed: u8) -> (BodyStream, Vec<u8>) {
    let bytes: Vec<u8> = (0..total)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect();
    let parts = bytes.chunks(64 * 1024).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    (chunks(parts), bytes)
}

async fn read_all(store: &S3Store, hash: &accord_media::ContentHash) -> Vec<u8> {
    let (mut reader, size) = store.open(hash).await.expect("open").expect("present");
    let mut out = Vec::new();
    reader.read_to_end(&mut out).await.expect("read");
    assert_eq!(out.len() as u64, size);
    out
}

#[tokio::test]
#[ignore = "needs an S3 server: run tests/s3/run.sh"]
async fn small_and_multipart_writes_read_back_and_identical_bytes_are_stored_once() {
    let store = S3Store::new(&settings("conformance")).expect("store");
    store.prepare().await.expect("prepare");

    let small = write_bytes(&store, Bytes::from_static(b"hello s3"))
        .await
        .expect("small");
    assert_eq!(read_all(&store, &small.hash).await, b"hello s3");

    // 20 MiB: past the part size, so a multipart upload of several parts.
    let (body, bytes) = large_body(20 * 1024 * 1024, 3);
    let large = store.write(body, 50 * 1024 * 1024).await.expect("large");
    assert_eq!(large.size, bytes.len() as u64);
    assert_eq!(large.hash.0, <[u8; 32]>::from(Sha256::digest(&bytes)));
    assert_eq!(read_all(&store, &large.hash).await, bytes);
    let again = store
        .write(large_body(20 * 1024 * 1024, 3).0, 50 * 1024 * 1024)
        .await
        .expect("again");
    assert_eq!(again, large);

    let mut expected = vec![
        format!("conformance/blobs/{}", large.hash.to_hex()),
        format!("conformance/blobs/{}", small.hash.to_hex()),
    ];
    expected.sort();
    assert_eq!(
        keys_under("conformance").await,
        expected,
        "one object per distinct content, nothing left under tmp/"
    );

    let thumbnail_source = store.read(&small.hash, 100).await.expect("read").expect("present");
    assert_eq!(thumbnail_source, b"hello s3");
    assert!(matches!(
        store.read(&large.hash, 100).await,
        Err(Error::TooLarge { limit: 100 })
    ));

    store.delete(&small.hash).await.expect("delete");
    store.delete(&small.hash).await.expect("deleting again is fine");
    assert!(store.open(&small.hash).await.expect("open").is_none());
    assert!(store.read(&small.hash, 100).await.expect("read").is_none());
}

#[tokio::test]
#[ignore = "needs an S3 server: run tests/s3/run.sh"]
async fn failed_writes_leave_nothing_in_the_bucket() {
    let store = S3Store::new(&settings("failures")).expect("store");
    // Too large, found while streaming, after a multipart upload began.
    let (body, _) = large_body(12 * 1024 * 1024, 5);
    let too_large = store.write(body, 10 * 1024 * 1024).await;
    assert!(matches!(too_large, Err(Error::TooLarge { .. })), "{too_large:?}");
    // A body cut short, small and large.
    let cut_small = store
        .write(
            chunks(vec![Ok(Bytes::from_static(b"part")), Err(std::io::Error::other("cut"))]),
            100,
        )
        .await;
    assert!(matches!(cut_small, Err(Error::Body(_))), "{cut_small:?}");
    let (large, _) = large_body(9 * 1024 * 1024, 6);
    let cut_large = store
        .write(
            Box::pin(large.chain(futures::stream::iter(vec![Err(std::io::Error::other("cut"))]))),
            u64::MAX,
        )
        .await;
    assert!(matches!(cut_large, Err(Error::Body(_))), "{cut_large:?}");
    assert_eq!(keys_under("failures").await, Vec::<String>::new());
}

#[tokio::test]
#[ignore = "needs an S3 server: run tests/s3/run.sh"]
async fn prepare_removes_what_a_crash_left_under_tmp() {
    let inspector = inspector();
    inspector
        .put(
            &Path::from("crashed/tmp/leftover"),
            Bytes::from_static(b"half a file").into(),
        )
        .await
        .expect("put leftover");
    let store = S3Store::new(&settings("crashed")).expect("store");
    store.prepare().await.expect("prepare");
    assert_eq!(keys_under("crashed").await, Vec::<String>::new());
}

#[tokio::test]
#[ignore = "needs an S3 server: run tests/s3/run.sh"]
async fn a_missing_bucket_is_reported_at_prepare() {
    let mut wrong_bucket = settings("x");
    wrong_bucket.bucket = "no-such-bucket".to_owned();
    let err = S3Store::new(&wrong_bucket)
        .expect("store")
        .prepare()
        .await
        .expect_err("no bucket");
    assert!(err.to_string().contains("S3"), "{err}");
}
