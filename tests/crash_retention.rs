//! Retention survives `kill -9`: a room with a one-day `m.room.retention` holds 10,000
//! messages two days old; the `accord` binary is killed as soon as its retention run has
//! pruned its first batch, then started again. The next run resumes (it prunes fewer than all,
//! and the two runs together prune every one), and afterwards no table, no database file and
//! no search index file holds a byte of the expired messages, while the fresh ones are found
//! (the scan's positive control).

mod support;

use std::path::Path;

use accord_testkit::TestServer;
use serde_json::{Value, json};
use support::{binary_config, files_containing, kill9, serve, stop, tables_containing, wait_for_line, wait_up};

const DAY_MS: u64 = 86_400_000;
const OLD_MESSAGES: usize = 10_000;
const EXPIRED: &str = "zqcrashexpired";
const FRESH: &str = "zqcrashfresh";
/// Quiet but for retention's progress.
const LOG: &str = "warn,accord_service::retention=info";

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retention_run_killed_mid_way_resumes_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().expect("dir");
    let (token, member, config) = prepare(&dir.path().join("db")).await;
    let (config_file, base) = binary_config(
        dir.path(),
        &config,
        "[retention]\nenabled = true\npurge_interval_secs = 86400\n",
    );
    let http = reqwest::Client::new();

    // First run: killed right after its first batch is durable.
    let (mut child, log) = serve(&config_file, LOG);
    wait_up(&http, &base).await;
    let running = tokio::spawn(run_retention(&http, &base, &token));
    wait_for_line(&log, "retention batch pruned");
    kill9(&mut child);
    assert!(
        running.await.expect("join").is_err(),
        "the run was still going when the process died"
    );

    // Second run, after a restart: resumes, and prunes the rest.
    let (mut child, _log) = serve(&config_file, LOG);
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
    stop(&mut child);

    assert_eq!(tables_containing(&config, EXPIRED.as_bytes()), Vec::<&str>::new());
    assert_eq!(files_containing(dir.path(), EXPIRED.as_bytes()), Vec::<String>::new());
    assert!(!tables_containing(&config, FRESH.as_bytes()).is_empty());
    assert!(!files_containing(dir.path(), FRESH.as_bytes()).is_empty());
}
