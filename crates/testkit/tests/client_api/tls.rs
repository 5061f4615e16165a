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
