//! TLS on the client listener (optional) and the federation listener, with a test CA.

use accord_testkit::{TestServer, ca::TestCa};
use serde_json::Value;

#[tokio::test]
async fn client_and_federation_listeners_serve_tls_from_a_test_ca() {
    let ca = TestCa::new();
    let certs = tempfile::tempdir().expect("dir");
    let leaf = ca.leaf(certs.path(), "server", &[]);
    let server = TestServer::start_with(|c| {
        c.client_api.tls_cert = Some(leaf.cert.clone());
        c.client_api.tls_key = Some(leaf.key.clone());
        c.federation.enabled = true;
        c.federation.tls_cert = Some(leaf.cert.clone());
        c.federation.tls_key = Some(leaf.key.clone());
    })
    .await;
    let client = ca.client();
    let client_port = server.running().client_addr.port();
    let versions: Value = client
        .get(format!("https://localhost:{client_port}/_matrix/client/versions"))
        .send()
        .await
        .expect("TLS request to the client API")
        .json()
        .await
        .expect("json");
    assert!(versions["versions"].is_array());

    let federation_port = server.running().federation_addr.expect("federation listener").port();
    let version: Value = client
        .get(format!(
            "https://localhost:{federation_port}/_matrix/federation/v1/version"
        ))
        .send()
        .await
        .expect("TLS request to the federation API")
        .json()
        .await
        .expect("json");
    assert_eq!(version["server"]["name"], "Accord");

    // A client that does not trust the test CA is refused.
    let untrusting = TestCa::new().client();
    assert!(
        untrusting
            .get(format!(
                "https://localhost:{federation_port}/_matrix/federation/v1/version"
            ))
            .send()
            .await
            .is_err()
    );
}

/// `GET /_matrix/key/v2/server` is self-signed with the key it publishes, valid for a while,
/// and the key (and its id) survive a restart.
#[tokio::test]
async fn server_keys_are_self_signed_and_stable_across_restart() {
    use std::collections::BTreeMap;

    use ruma::{CanonicalJsonObject, serde::Base64, signatures::verify_json};

    let ca = TestCa::new();
    let certs = tempfile::tempdir().expect("dir");
    let leaf = ca.leaf(certs.path(), "server", &[]);
    let mut server = TestServer::start_with(|c| {
        c.federation.enabled = true;
        c.federation.tls_cert = Some(leaf.cert.clone());
        c.federation.tls_key = Some(leaf.key.clone());
    })
    .await;
    let client = ca.client();
    let fetch = |port: u16| {
        let client = client.clone();
        async move {
            client
                .get(format!("https://localhost:{port}/_matrix/key/v2/server"))
                .send()
                .await
                .expect("key request")
                .json::<Value>()
                .await
                .expect("json")
        }
    };
    let port = server.running().federation_addr.expect("federation listener").port();
    let keys = fetch(port).await;
    assert_eq!(keys["server_name"], "localhost");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    assert!(keys["valid_until_ts"].as_u64().expect("valid_until_ts") > now + 3_600_000);
    let (key_id, key) = keys["verify_keys"]
        .as_object()
        .and_then(|k| k.iter().next())
        .expect("one verify key");
    let key_id = key_id.clone();
    let public = Base64::parse(key["key"].as_str().expect("key")).expect("base64 key");
    let mut key_set = BTreeMap::new();
    key_set.insert(key_id.clone(), public);
    let mut key_map = BTreeMap::new();
    key_map.insert("localhost".to_owned(), key_set);
    let object: CanonicalJsonObject = serde_json::from_value(keys.clone()).expect("canonical json");
    verify_json(&key_map, &object).expect("the response is signed by the key it publishes");

    server.restart().await;
    let port = server.running().federation_addr.expect("federation listener").port();
    let again = fetch(port).await;
    assert!(
        again["verify_keys"].get(&key_id).is_some(),
        "same key id after restart: {again}"
    );
    assert_eq!(again["verify_keys"][&key_id], keys["verify_keys"][&key_id]);
}
