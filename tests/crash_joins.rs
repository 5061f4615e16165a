//! Remote joins are one atomic write: `kill -9` at random points during 20 joins of a room
//! with 500 state events leaves each join wholly there or wholly absent. After every kill the
//! database opens, every forward extremity and every event of the current state is stored, the
//! joiner's membership agrees with the room state, and `/sync` and `/messages` answer.
//!
//! The resident server B runs in-process; the joining server A is the `accord` binary, so the
//! kill is a real SIGKILL. Loopback only, TLS from a test CA.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use accord_db::rooms::ShortStateHash;
use accord_testkit::{TestServer, ca::TestCa};
use ruma::{RoomId, UserId};
use serde_json::{Value, json};

const JOINS: usize = 20;
const STATE_EVENTS: usize = 500;

/// The joining server: a child process on its own database.
struct Joiner {
    child: Option<Child>,
    config: PathBuf,
    db_path: PathBuf,
    base: String,
    server_name: String,
}

impl Joiner {
    fn new(dir: &Path, ca: &TestCa) -> Self {
        let free = || {
            std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("free port")
                .port()
        };
        let (client, federation) = (free(), free());
        let leaf = ca.leaf(dir, "federation", &[]);
        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, &ca.ca_pem).expect("write CA");
        let db_path = dir.join("db");
        let config = dir.join("accord.toml");
        let toml = format!(
            "server_name = \"localhost:{federation}\"\n\
             [database]\npath = {db_path:?}\n\
             [client_api]\nbind = \"127.0.0.1:{client}\"\n\
             [federation]\nenabled = true\nbind = \"127.0.0.1:{federation}\"\n\
             tls_cert = {:?}\ntls_key = {:?}\ntls_ca_file = {ca_file:?}\n\
             [registration]\nmode = \"open\"\n",
            leaf.cert, leaf.key
        );
        let toml = toml + &accord_core::config::RateLimitsConfig::unlimited_toml();
        std::fs::write(&config, toml).expect("write config");
        Self {
            child: None,
            config,
            db_path,
            base: format!("http://127.0.0.1:{client}"),
            server_name: format!("localhost:{federation}"),
        }
    }

    async fn start(&mut self, http: &reqwest::Client) {
        let child = Command::new(env!("CARGO_BIN_EXE_accord"))
            .args(["serve", "--config"])
            .arg(&self.config)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start accord");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if http
                .get(format!("{}/_matrix/client/versions", self.base))
                .send()
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("accord did not start within 30 s");
    }

    fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("kill");
            child.wait().expect("reap");
        }
    }
}

impl Drop for Joiner {
    fn drop(&mut self) {
        self.kill9();
    }
}

async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = http.request(method, url);
    if !token.is_empty() {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Opens the killed server's database and checks that the room is whole. Returns whether the
/// user is joined.
fn check_database(db_path: &Path, room_id: &RoomId, user_id: &UserId) -> bool {
    let mut config = accord_core::Config::default();
    config.database.path = db_path.to_owned();
    let db = accord_server::open_database(&config).expect("the database opens after kill -9");
    let membership = db.get_membership(user_id, room_id).expect("membership");
    let joined = membership
        .as_ref()
        .is_some_and(|m| m.membership == ruma::events::room::member::MembershipState::Join);
    let Some(meta) = db.get_room_meta(room_id).expect("room meta") else {
        assert!(!joined, "joined without the room");
        assert!(
            db.extremities(room_id).expect("extremities").is_empty(),
            "extremities of no room"
        );
        return false;
    };
    let extremities = db.extremities(room_id).expect("extremities");
    assert!(!extremities.is_empty(), "a known room has forward extremities");
    for event_id in &extremities {
        assert!(
            db.get_short_event_id(event_id).expect("read").is_some(),
            "dangling extremity {event_id}"
        );
    }
    let state = db
        .state_map(ShortStateHash(meta.current_state))
        .expect("the current state snapshot loads");
    assert!(state.len() > STATE_EVENTS, "the whole state: {} events", state.len());
    let mut member_event = None;
    for short in state.values() {
        let pdu = db.get_pdu_json(*short).expect("read").expect("state event stored");
        if pdu.get("type").and_then(|t| t.as_str()) == Some("m.room.member")
            && pdu.get("state_key").and_then(|k| k.as_str()) == Some(user_id.as_str())
        {
            member_event = Some(pdu);
        }
    }
    let state_says_joined = member_event
        .as_ref()
        .and_then(|pdu| pdu.get("content"))
        .and_then(|c| c.as_object())
        .and_then(|c| c.get("membership"))
        .and_then(|m| m.as_str())
        == Some("join");
    assert_eq!(joined, state_says_joined, "membership record and room state agree");
    joined
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_remote_joins_leaves_each_join_whole_or_absent() {
    accord_testkit::install_crypto_provider();
    let ca = TestCa::new();
    let resident = TestServer::start_federating(&ca, |_| {}).await;
    let owner = resident.register("owner", "pw-owner-1").await;
    let initial_state: Vec<Value> = (0..STATE_EVENTS)
        .map(|i| json!({ "type": "org.accord.test.fixture", "state_key": format!("key-{i}"), "content": { "i": i } }))
        .collect();
    let room = resident
        .create_room(
            &owner,
            json!({ "preset": "public_chat", "room_alias_name": "big", "initial_state": initial_state }),
        )
        .await;
    let room_id = <&RoomId>::try_from(room.as_str()).expect("room id").to_owned();

    let dir = tempfile::tempdir().expect("dir");
    let http = reqwest::Client::new();
    let mut joiner = Joiner::new(dir.path(), &ca);
    joiner.start(&http).await;
    let (status, body) = call(
        &http,
        reqwest::Method::POST,
        format!("{}/_matrix/client/v3/register", joiner.base),
        "",
        Some(json!({ "username": "joiner", "password": "pw-joiner-1", "auth": { "type": "m.login.dummy" } })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().expect("token").to_owned();
    let user_id = <&UserId>::try_from(body["user_id"].as_str().expect("user id"))
        .expect("user id")
        .to_owned();
    let join_url = format!(
        "{}/_matrix/client/v3/join/{}",
        joiner.base,
        accord_testkit::urlencode(&format!("#big:{}", resident.config.server_name))
    );

    // One join to time, then kills spread over up to 1.5 times that.
    let started = Instant::now();
    let (status, body) = call(&http, reqwest::Method::POST, join_url.clone(), &token, Some(json!({}))).await;
    assert_eq!(status, 200, "{body}");
    let join_time = started.elapsed();
    let mut seed = u64::from(std::process::id()) ^ 0x9E37_79B9_7F4A_7C15;
    eprintln!("join of a {STATE_EVENTS}-state room took {join_time:?}; seed {seed}");
    let (mut whole, mut absent) = (0, 0);
    for round in 0..JOINS {
        // Leave, so the next join is a remote one again (no joined user left here).
        let (status, body) = call(
            &http,
            reqwest::Method::POST,
            format!("{}/_matrix/client/v3/rooms/{room}/leave", joiner.base),
            &token,
            Some(json!({})),
        )
        .await;
        assert!(status == 200 || status == 403, "leave: {status} {body}");

        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let fraction = (seed >> 33) as f64 / f64::from(u32::MAX >> 1);
        let kill_after = join_time.mul_f64(1.5 * fraction);
        let join = tokio::spawn({
            let (http, url, token) = (http.clone(), join_url.clone(), token.clone());
            async move { http.post(url).bearer_auth(token).json(&json!({})).send().await }
        });
        tokio::time::sleep(kill_after).await;
        joiner.kill9();
        let _ = join.await;

        let joined = check_database(&joiner.db_path, &room_id, &user_id);
        if joined {
            whole += 1;
        } else {
            absent += 1;
        }
        eprintln!("round {round}: killed after {kill_after:?}; joined: {joined}");

        joiner.start(&http).await;
        let (status, sync) = call(
            &http,
            reqwest::Method::GET,
            format!("{}/_matrix/client/v3/sync?timeout=0", joiner.base),
            &token,
            None,
        )
        .await;
        assert_eq!(status, 200, "{sync}");
        assert_eq!(
            sync["rooms"]["join"].get(&room).is_some(),
            joined,
            "/sync lists the room as joined exactly when the join is there"
        );
        if joined {
            let (status, page) = call(
                &http,
                reqwest::Method::GET,
                format!("{}/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=10", joiner.base),
                &token,
                None,
            )
            .await;
            assert_eq!(status, 200, "{page}");
            assert!(page["chunk"].as_array().is_some_and(|c| !c.is_empty()), "{page}");
        }
    }
    eprintln!(
        "{JOINS} kills: {whole} joins whole, {absent} absent ({})",
        joiner.server_name
    );
    assert_eq!(whole + absent, JOINS);
}
