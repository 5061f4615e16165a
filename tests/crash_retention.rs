//! Retention survives `kill -9`: a room with a one-day `m.room.retention` holds 10,000
//! messages two days old; the `accord` binary is killed as soon as its retention run has
//! pruned its first batch, then started again. The next run resumes (it prunes fewer than all,
//! and the two runs together prune every one), and afterwards no table, no database file and
//! no search index file holds a byte of the expired messages, while the fresh ones are found
//! (the scan's positive control).

use std::{
    io::BufRead as _,
    path::Path,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use accord_testkit::TestServer;
use serde_json::{Value, json};

const DAY_MS: u64 = 86_400_000;
const OLD_MESSAGES: usize = 10_000;
const EXPIRED: &str = "zqcrashexpired";
const FRESH: &str = "zqcrashfresh";

/// Builds the database in-process (fast), then stops that server: the room, its 10,000 old
/// messages and 3 fresh ones, and an admin. Returns the admin's and the member's tokens.
async fn prepare(db: &Path) -> (String, String, accord_core::Config) {
    let mut server = TestServer::start_with(|config| {
        config.database.path = db.to_path_buf();
        config.retention.enabled = true;
        config.retention.purge_interval_secs = 86_400;
    })
    .await;
    let admin = server.create_user("root", "pw-root-1", true).await;
    let alice = server.register("alice", "pw-alice-1").await;
    let room = server.create_room(&alice, json!({ "preset": "public_chat" })).await;
    server
        .put(
            &format!("/_matrix/client/v3/rooms/{room}/state/m.room.retention/"),
            Some(&alice.token),
            json!({ "max_lifetime": DAY_MS }),
        )
        .await
        .ok();
    let services = server.running().services.clone();
    let sender = services.sessions.authenticate(&alice.token).expect("alice");
    let room_id = ruma::RoomId::parse(&room).expect("room id");
    let old = accord_core::time::now_millis() - 2 * DAY_MS;
    for n in 0..OLD_MESSAGES {
        services
            .rooms
            .send_message_at(
                &sender,
                &room_id,
                "m.room.message",
                &format!("old{n}"),
                json!({ "msgtype": "m.text", "body": format!("{EXPIRED} number {n}") }),
                Some(old + n as u64),
            )
            .await
            .expect("old message");
    }
    drop(services);
    for n in 0..3 {
        server.send_text(&alice, &room, &format!("{FRESH} {n}")).await;
    }
    let config = server.config.clone();
    server.stop().await;
    (admin.token, alice.token, config)
}

/// The binary on the prepared database; its log lines arrive on the receiver.
fn serve(config_file: &Path) -> (Child, mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_accord"))
        .args(["serve", "--config"])
        .arg(config_file)
        .env("RUST_LOG", "warn,accord_service::retention=info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start accord");
    let stderr = child.stderr.take().expect("stderr");
    let (lines, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    (child, receiver)
}

async fn wait_up(http: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while http
        .get(format!("{base}/_matrix/client/versions"))
        .send()
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "accord did not start within 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn run_retention(
    http: &reqwest::Client,
    base: &str,
    token: &str,
) -> impl std::future::Future<Output = reqwest::Result<Value>> + use<> {
    let request = http
        .post(format!("{base}/_accord/admin/v1/retention/run"))
        .bearer_auth(token)
        .json(&json!({}));
    async move { request.send().await?.json::<Value>().await }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}

/// Tables (read through the engine, so compressed blocks are seen decompressed) holding
/// `needle` in a key or value.
fn tables_containing(config: &accord_core::Config, needle: &[u8]) -> Vec<&'static str> {
    let engine = accord_server::open_engine(config).expect("engine");
    accord_db::tables::ALL
        .iter()
        .filter(|table| {
            engine
                .iter_from(table.name, None, accord_db::Direction::Forward)
                .expect("iterate")
                .any(|item| {
                    let (key, value) = item.expect("row");
                    contains(&key, needle) || contains(&value, needle)
                })
        })
        .map(|table| table.name)
        .collect()
}

/// Files under `dir` (the database with its logs, the search index beside it) holding `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_containing(&path, needle));
        } else if std::fs::read(&path).is_ok_and(|bytes| contains(&bytes, needle)) {
            found.push(path.display().to_string());
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retention_run_killed_mid_way_resumes_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().expect("dir");
    let (token, member, config) = prepare(&dir.path().join("db")).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let config_file = dir.path().join("accord.toml");
    let toml = format!(
        "server_name = \"{}\"\n[database]\npath = {:?}\n[client_api]\nbind = \"127.0.0.1:{port}\"\n\
         [retention]\nenabled = true\npurge_interval_secs = 86400\n",
        config.server_name, config.database.path
    ) + &accord_core::config::RateLimitsConfig::unlimited_toml();
    std::fs::write(&config_file, toml).expect("write config");
    let http = reqwest::Client::new();

    // First run: killed right after its first batch is durable.
    let (mut child, log) = serve(&config_file);
    wait_up(&http, &base).await;
    let running = tokio::spawn(run_retention(&http, &base, &token));
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let line = log
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("a retention batch is logged");
        if line.contains("retention batch pruned") {
            break;
        }
    }
    child.kill().expect("kill -9");
    child.wait().expect("reap");
    assert!(
        running.await.expect("join").is_err(),
        "the run was still going when the process died"
    );

    // Second run, after a restart: resumes, and prunes the rest.
    let (mut child, _log) = serve(&config_file);
    wait_up(&http, &base).await;
    let rest = run_retention(&http, &base, &token).await.expect("second run");
    let pruned = rest["events_pruned"].as_u64().expect("events_pruned") as usize;
    assert!(
        pruned > 0 && pruned < OLD_MESSAGES,
        "the second run resumes after the first's durable batches, not from the start: {rest}"
    );
    let again = run_retention(&http, &base, &token).await.expect("third run");
    assert_eq!(again["events_pruned"], 0, "nothing left: {again}");
    let hits = |term: &'static str| {
        let request = http
            .post(format!("{base}/_matrix/client/v3/search"))
            .bearer_auth(&member)
            .json(&json!({ "search_categories": { "room_events": { "search_term": term } } }));
        async move {
            let answer: Value = request.send().await.expect("search").json().await.expect("search body");
            answer["search_categories"]["room_events"]["count"].clone()
        }
    };
    assert_eq!(hits(EXPIRED).await, 0);
    assert_eq!(hits(FRESH).await, 3, "positive control");
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill -TERM");
    child.wait().expect("reap");

    assert_eq!(tables_containing(&config, EXPIRED.as_bytes()), Vec::<&str>::new());
    assert_eq!(files_containing(dir.path(), EXPIRED.as_bytes()), Vec::<String>::new());
    assert!(!tables_containing(&config, FRESH.as_bytes()).is_empty());
    assert!(!files_containing(dir.path(), FRESH.as_bytes()).is_empty());
}
