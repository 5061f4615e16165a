//! An application service for the tests, on loopback: it records every transaction, query and
//! ping with the token it came with, and answers as told (accept, or 503 while "down"). Also
//! writes registration files and starts servers with them.

use std::{
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

use accord_testkit::TestServer;
use axum::{
    Json, Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    routing::{get, post, put},
};
use serde_json::{Value, json};

pub const AS_TOKEN: &str = "as-token-for-the-bridge";
pub const HS_TOKEN: &str = "hs-token-for-the-bridge";

/// One request the service received.
#[derive(Debug, Clone)]
pub struct Received {
    /// `transaction`, `user`, `alias` or `ping`.
    pub kind: &'static str,
    /// The path parameter (transaction id, user id or alias).
    pub param: String,
    /// The body (`Null` for queries).
    pub body: Value,
    /// The `Authorization` header as sent.
    pub authorization: String,
}

#[derive(Default)]
struct Shared {
    received: Vec<Received>,
    /// Every transaction sent, accepted or not: (txn id, body).
    attempts: Vec<(String, Value)>,
    down: bool,
}

/// The running service.
#[derive(Clone)]
pub struct TestAppservice {
    shared: Arc<Mutex<Shared>>,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
}

type AppState = State<Arc<Mutex<Shared>>>;

fn record(shared: &Arc<Mutex<Shared>>, received: Received) -> (StatusCode, Json<Value>) {
    let mut shared = shared.lock().expect("appservice state");
    if shared.down {
        return (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "errcode": "M_UNKNOWN" })));
    }
    shared.received.push(received);
    (StatusCode::OK, Json(json!({})))
}

fn authorization(headers: &HeaderMap) -> String {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

async fn transaction(
    State(shared): AppState,
    Path(txn_id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    shared
        .lock()
        .expect("appservice state")
        .attempts
        .push((txn_id.clone(), body.clone()));
    let received = Received {
        kind: "transaction",
        param: txn_id,
        body,
        authorization: authorization(&headers),
    };
    record(&shared, received)
}

async fn user_query(
    State(shared): AppState,
    Path(user): Path<String>,
    headers: HeaderMap,
) -> (StatusCode, Json<Value>) {
    let received = Received {
        kind: "user",
        param: user,
        body: Value::Null,
        authorization: authorization(&headers),
    };
    record(&shared, received)
}

async fn alias_query(
    State(shared): AppState,
    Path(alias): Path<String>,
    headers: HeaderMap,
) -> (StatusCode, Json<Value>) {
    let received = Received {
        kind: "alias",
        param: alias,
        body: Value::Null,
        authorization: authorization(&headers),
    };
    // Knows no rooms: a 404 after recording.
    let (status, reply) = record(&shared, received);
    if status == StatusCode::OK {
        return (StatusCode::NOT_FOUND, Json(json!({ "errcode": "M_NOT_FOUND" })));
    }
    (status, reply)
}

async fn ping(State(shared): AppState, headers: HeaderMap, Json(body): Json<Value>) -> (StatusCode, Json<Value>) {
    let received = Received {
        kind: "ping",
        param: String::new(),
        body,
        authorization: authorization(&headers),
    };
    record(&shared, received)
}

/// The service's answers to third-party lookups: one protocol, `gitter`, with one network.
async fn thirdparty_protocol(Path(protocol): Path<String>) -> (StatusCode, Json<Value>) {
    if protocol != "gitter" {
        return (StatusCode::NOT_FOUND, Json(json!({ "errcode": "M_NOT_FOUND" })));
    }
    let protocol = json!({
        "user_fields": ["username"],
        "location_fields": ["room"],
        "icon": "mxc://example.org/gitter",
        "field_types": {
            "username": { "regexp": "[a-z]+", "placeholder": "alice" },
            "room": { "regexp": "[a-z/]+", "placeholder": "matrix/room" },
        },
        "instances": [{ "desc": "Gitter", "fields": {}, "network_id": "gitter" }],
    });
    (StatusCode::OK, Json(protocol))
}

async fn thirdparty_locations(Path(protocol): Path<String>) -> Json<Value> {
    Json(
        json!([{ "alias": "#bridge_gitter_matrix:localhost", "protocol": protocol, "fields": { "room": "matrix/room" } }]),
    )
}

async fn thirdparty_users(Path(protocol): Path<String>) -> Json<Value> {
    Json(
        json!([{ "userid": "@bridge_gitter_alice:localhost", "protocol": protocol, "fields": { "username": "alice" } }]),
    )
}

impl TestAppservice {
    /// Starts the service on a free loopback port.
    pub async fn start() -> Self {
        let shared = Arc::new(Mutex::new(Shared::default()));
        let app = Router::new()
            .route("/_matrix/app/v1/transactions/{txn}", put(transaction))
            .route("/_matrix/app/v1/users/{user}", get(user_query))
            .route("/_matrix/app/v1/rooms/{alias}", get(alias_query))
            .route("/_matrix/app/v1/ping", post(ping))
            .route(
                "/_matrix/app/v1/thirdparty/protocol/{protocol}",
                get(thirdparty_protocol),
            )
            .route(
                "/_matrix/app/v1/thirdparty/location/{protocol}",
                get(thirdparty_locations),
            )
            .route("/_matrix/app/v1/thirdparty/user/{protocol}", get(thirdparty_users))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            shared,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// While down, every request gets 503 and is not recorded.
    pub fn set_down(&self, down: bool) {
        self.shared.lock().expect("appservice state").down = down;
    }

    /// Everything accepted so far.
    pub fn received(&self) -> Vec<Received> {
        self.shared.lock().expect("appservice state").received.clone()
    }

    /// Every transaction sent, accepted or refused: (txn id, body).
    pub fn attempts(&self) -> Vec<(String, Value)> {
        self.shared.lock().expect("appservice state").attempts.clone()
    }

    /// The accepted transactions: (txn id, body).
    pub fn transactions(&self) -> Vec<(String, Value)> {
        self.received()
            .into_iter()
            .filter(|r| r.kind == "transaction")
            .map(|r| (r.param, r.body))
            .collect()
    }

    /// Every event of every accepted transaction, in order.
    pub fn events(&self) -> Vec<Value> {
        self.transactions()
            .into_iter()
            .flat_map(|(_, body)| body["events"].as_array().cloned().unwrap_or_default())
            .collect()
    }

    /// Waits (up to 30 s) until `done` holds of what was received.
    pub async fn wait_until(&self, what: &str, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        for _ in 0..300 {
            let received = self.received();
            if done(&received) {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the appservice never saw {what}: {:#?}", self.received());
    }

    /// Waits until an event of `kind` whose content `body` is `text` arrived; returns it.
    pub async fn wait_for_message(&self, text: &str) -> Value {
        self.wait_until(&format!("the message {text:?}"), |received| {
            received.iter().any(|r| {
                r.kind == "transaction"
                    && r.body["events"]
                        .as_array()
                        .is_some_and(|events| events.iter().any(|e| e["content"]["body"] == text))
            })
        })
        .await;
        self.events()
            .into_iter()
            .find(|e| e["content"]["body"] == text)
            .expect("the message is there")
    }
}

/// A registration of the bridge: sender `bridgebot`, users `@bridge_*` and aliases
/// `#bridge_*` exclusively, ephemeral events on.
pub fn registration(url: Option<&str>) -> String {
    registration_with(url, "")
}

/// [`registration`] with `extra` YAML lines (`org.matrix.msc3202: true`, say).
pub fn registration_with(url: Option<&str>, extra: &str) -> String {
    let url = url.map_or("null".to_owned(), |url| format!("\"{url}\""));
    format!(
        r##"id: bridge
url: {url}
as_token: {AS_TOKEN}
hs_token: {HS_TOKEN}
sender_localpart: bridgebot
rate_limited: false
receive_ephemeral: true
protocols: ["gitter"]
{extra}
namespaces:
  users:
    - exclusive: true
      regex: "@bridge_.*"
  aliases:
    - exclusive: true
      regex: "#bridge_.*"
  rooms: []
"##
    )
}

/// A server with the bridge registered (the registration file lives in `dir`).
pub async fn server_with_bridge(dir: &tempfile::TempDir, url: Option<&str>) -> TestServer {
    server_with_registration(dir, &registration(url)).await
}

/// A server with `registration` as its one registration file (in `dir`).
pub async fn server_with_registration(dir: &tempfile::TempDir, registration: &str) -> TestServer {
    let file: PathBuf = dir.path().join("bridge.yaml");
    std::fs::write(&file, registration).expect("write registration");
    TestServer::start_with(|config| config.appservice.registration_files = vec![file]).await
}

/// `path` with the bridge acting as `user` (`?user_id=`), `&` or `?` as needed.
pub fn as_user(path: &str, user: &str) -> String {
    let separator = if path.contains('?') { '&' } else { '?' };
    format!("{path}{separator}user_id={}", accord_testkit::urlencode(user))
}

/// Alice's public room with the bridge's bot joined, so the service is interested in all of it.
pub async fn bridged_room(server: &TestServer) -> (accord_testkit::TestUser, String) {
    let alice = server.register("alice", "password-alice").await;
    let room = server.create_room(&alice, json!({ "preset": "public_chat" })).await;
    server
        .post(
            &format!("/_matrix/client/v3/join/{}", accord_testkit::urlencode(&room)),
            Some(AS_TOKEN),
            json!({}),
        )
        .await
        .ok();
    (alice, room)
}
