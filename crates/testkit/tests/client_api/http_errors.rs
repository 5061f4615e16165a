//! Errors every endpoint shares: unknown paths, wrong methods, bad bodies, oversize bodies,
//! missing or unknown tokens, CORS, and panics.

use accord_testkit::TestServer;
use http::Method;
use serde_json::json;

#[tokio::test]
async fn unknown_endpoint_is_404_unrecognized() {
    let server = TestServer::start().await;
    server
        .get("/_matrix/client/v3/no/such/endpoint", None)
        .await
        .assert_error(404, "M_UNRECOGNIZED");
}

#[tokio::test]
async fn wrong_method_is_405_unrecognized() {
    let server = TestServer::start().await;
    server
        .delete("/_matrix/client/versions", None, None)
        .await
        .assert_error(405, "M_UNRECOGNIZED");
}

/// TestUnknownEndpoints: on the client listener, unknown paths of every API are 404 and known
/// ones with a wrong method 405, federation, key and media paths included.
#[tokio::test]
async fn unknown_paths_of_every_api_are_404_and_wrong_methods_405() {
    let server = TestServer::start().await;
    for path in [
        "/_matrix/unknown",
        "/_matrix/client/unknown",
        "/_matrix/client/v1/unknown",
        "/_matrix/client/v3/room/unknown",
        "/_matrix/federation/unknown",
        "/_matrix/federation/v1/unknown",
        "/_matrix/key/unknown",
        "/_matrix/key/v2/unknown",
        "/_matrix/media/unknown",
        "/_matrix/media/v3/unknown",
    ] {
        server.get(path, None).await.assert_error(404, "M_UNRECOGNIZED");
    }
    for (method, path) in [
        (Method::PUT, "/_matrix/client/v3/login"),
        (Method::PUT, "/_matrix/federation/v1/version"),
        (Method::PUT, "/_matrix/key/v2/query"),
        (Method::PATCH, "/_matrix/media/v3/upload"),
    ] {
        server
            .request(method, path, None, None)
            .await
            .assert_error(405, "M_UNRECOGNIZED");
    }
}

#[tokio::test]
async fn malformed_json_is_not_json_and_wrong_shape_is_bad_json() {
    let server = TestServer::start().await;
    let reply = server
        .request_bytes(
            Method::POST,
            "/_matrix/client/v3/login",
            None,
            Some(b"{not json".to_vec()),
        )
        .await;
    reply.assert_error(400, "M_NOT_JSON");
    let reply = server
        .post(
            "/_matrix/client/v3/login",
            None,
            json!({ "type": "m.login.password", "password": 5 }),
        )
        .await;
    reply.assert_error(400, "M_BAD_JSON");
}

#[tokio::test]
async fn body_over_the_limit_is_413_too_large() {
    let server = TestServer::start_with(|c| c.client_api.max_request_bytes = 1024).await;
    let user = server.register("big", "password-1").await;
    let path = format!("/_matrix/client/v3/user/{}/account_data/org.example.big", user.user_id);
    let reply = server
        .put(&path, Some(&user.token), json!({ "blob": "x".repeat(4096) }))
        .await;
    reply.assert_error(413, "M_TOO_LARGE");
    // Nothing was written and the server keeps serving.
    server
        .get(&path, Some(&user.token))
        .await
        .assert_error(404, "M_NOT_FOUND");
}

#[tokio::test]
async fn missing_and_unknown_tokens_are_401() {
    let server = TestServer::start().await;
    server
        .get("/_matrix/client/v3/account/whoami", None)
        .await
        .assert_error(401, "M_MISSING_TOKEN");
    let reply = server
        .get("/_matrix/client/v3/account/whoami", Some("not-a-token"))
        .await;
    reply.assert_error(401, "M_UNKNOWN_TOKEN");
    assert_ne!(
        reply.body["soft_logout"],
        json!(true),
        "an unknown token is a hard logout"
    );
    // The deprecated query parameter form is still accepted and checked.
    let reply = server
        .get("/_matrix/client/v3/account/whoami?access_token=nope", None)
        .await;
    reply.assert_error(401, "M_UNKNOWN_TOKEN");
}

#[tokio::test]
async fn cors_headers_are_present_and_preflight_works() {
    let server = TestServer::start().await;
    let reply = server.get("/_matrix/client/versions", None).await;
    assert_eq!(
        reply.headers.get("access-control-allow-origin").map(|v| v.as_bytes()),
        Some(&b"*"[..])
    );
    let preflight = server
        .request(Method::OPTIONS, "/_matrix/client/v3/login", None, None)
        .await;
    assert_eq!(preflight.status, 200);
    let methods = preflight
        .headers
        .get("access-control-allow-methods")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    for method in ["GET", "POST", "PUT", "DELETE", "OPTIONS"] {
        assert!(methods.contains(method), "allow-methods {methods:?} lacks {method}");
    }
    let headers = preflight
        .headers
        .get("access-control-allow-headers")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    for header in ["x-requested-with", "content-type", "authorization"] {
        assert!(
            headers.to_ascii_lowercase().contains(header),
            "allow-headers {headers:?} lacks {header}"
        );
    }
}

/// The standard layers turn a panicking handler into 500 `M_UNKNOWN`, and the listener keeps
/// serving. Uses the server's real layer stack around a router with a handler that panics.
#[tokio::test]
async fn panic_becomes_500_and_server_keeps_serving() {
    use axum::{Router, routing::get};
    let router = accord_server::layers::wrap(
        Router::new()
            .route("/panic", get(panicking_handler))
            .route("/ok", get(|| async { "fine" })),
        "test",
        None,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router).await });
    let client = reqwest::Client::new();
    let reply = client
        .get(format!("http://{addr}/panic"))
        .send()
        .await
        .expect("request");
    assert_eq!(reply.status().as_u16(), 500);
    let body: serde_json::Value = reply.json().await.expect("json body");
    assert_eq!(body["errcode"], "M_UNKNOWN");
    let reply = client.get(format!("http://{addr}/ok")).send().await.expect("request");
    assert_eq!(reply.text().await.expect("body"), "fine");
}

async fn panicking_handler() -> &'static str {
    panic!("boom")
}

#[tokio::test]
async fn every_answer_carries_its_own_request_id() {
    let server = TestServer::start().await;
    let http = reqwest::Client::new();
    let mut ids = std::collections::HashSet::new();
    for path in ["/_matrix/client/versions", "/_matrix/client/v3/no/such/endpoint"] {
        let response = http
            .get(format!("{}{path}", server.base_url))
            .send()
            .await
            .expect("request");
        let id = response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .expect("X-Request-Id header")
            .to_owned();
        assert!(!id.is_empty());
        assert!(ids.insert(id), "request ids are unique");
    }
}
