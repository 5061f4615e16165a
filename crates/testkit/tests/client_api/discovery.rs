//! Versions, well-known and capabilities.

use accord_testkit::TestServer;
use serde_json::json;

#[tokio::test]
async fn versions_lists_only_served_versions() {
    let server = TestServer::start().await;
    let body = server.get("/_matrix/client/versions", None).await.ok();
    let versions: Vec<&str> = body["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(
        versions.contains(&"v1.1") && versions.contains(&"v1.10") && versions.contains(&"v1.11"),
        "{versions:?}"
    );
    assert!(
        !versions.contains(&"v1.12"),
        "v1.12's changes are not all checked yet: {versions:?}"
    );
}

#[tokio::test]
async fn well_known_comes_from_config_or_is_404() {
    let server = TestServer::start().await;
    server
        .get("/.well-known/matrix/client", None)
        .await
        .assert_error(404, "M_NOT_FOUND");
    server
        .get("/.well-known/matrix/server", None)
        .await
        .assert_error(404, "M_NOT_FOUND");

    let server = TestServer::start_with(|c| {
        c.well_known.client = Some("https://matrix.example.org".to_owned());
        c.well_known.server = Some("matrix.example.org:443".to_owned());
    })
    .await;
    let body = server.get("/.well-known/matrix/client", None).await.ok();
    assert_eq!(
        body,
        json!({ "m.homeserver": { "base_url": "https://matrix.example.org" } })
    );
    let body = server.get("/.well-known/matrix/server", None).await.ok();
    assert_eq!(body, json!({ "m.server": "matrix.example.org:443" }));
}

#[tokio::test]
async fn capabilities_need_a_token_and_describe_the_server() {
    let server = TestServer::start().await;
    server
        .get("/_matrix/client/v3/capabilities", None)
        .await
        .assert_error(401, "M_MISSING_TOKEN");
    let user = server.register("caps", "password-1").await;
    let body = server
        .get("/_matrix/client/v3/capabilities", Some(&user.token))
        .await
        .ok();
    let caps = &body["capabilities"];
    // Absent means enabled (spec default); it must not say false.
    assert_ne!(caps["m.change_password"]["enabled"], json!(false));
    assert_eq!(caps["m.room_versions"]["default"], json!("11"));
    assert_eq!(caps["m.room_versions"]["available"]["12"], json!("stable"));
}

#[tokio::test]
async fn federation_version_is_served_on_the_federation_listener_only() {
    let server = TestServer::start().await;
    server
        .get("/_matrix/federation/v1/version", None)
        .await
        .assert_error(404, "M_UNRECOGNIZED");
}
