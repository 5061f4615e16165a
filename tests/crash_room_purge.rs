//! Room purges survive `kill -9`: a room of 10,000 messages is deleted with purge through the
//! admin API of the `accord` binary, which is killed as soon as the purge has logged its first
//! progress. At the restart the server finds the purge's mark and finishes it (meanwhile the
//! half-deleted room reads as gone), and afterwards only the audit log names the room, and no
//! table and no file (database or search index) holds a byte of its messages, while another
//! room's are found (positive control).

mod support;

use accord_testkit::TestServer;
use serde_json::{Value, json};
use support::{binary_config, files_containing, kill9, serve, stop, tables_containing, wait_for_line, wait_up};

const MESSAGES: usize = 10_000;
const DOOMED: &str = "zqpurgedoomed";
const KEPT: &str = "zqpurgekept";
const LOG: &str = "warn,accord_db::rooms::purge=info";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_purge_killed_mid_way_finishes_when_asked_again() {
    let dir = tempfile::tempdir().expect("dir");
    let mut server = TestServer::start_with(|config| config.database.path = dir.path().join("db")).await;
    let admin = server.create_user("root", "pw-root-1", true).await;
    let alice = server.register("alice", "pw-alice-1").await;
    let doomed = server.create_room(&alice, json!({ "preset": "public_chat" })).await;
    let kept = server.create_room(&alice, json!({ "preset": "public_chat" })).await;
    let services = server.running().services.clone();
    let sender = services.sessions.authenticate(&alice.token).expect("alice");
    let room_id = ruma::RoomId::parse(&doomed).expect("room id");
    for n in 0..MESSAGES {
        services
            .rooms
            .send_message(
                &sender,
                &room_id,
                "m.room.message",
                &format!("m{n}"),
                json!({ "msgtype": "m.text", "body": format!("{DOOMED} number {n}") }),
            )
            .await
            .expect("message");
    }
    drop(services);
    server.send_text(&alice, &kept, &format!("{KEPT} stays")).await;
    let config = server.config.clone();
    server.stop().await;

    let (config_file, base) = binary_config(dir.path(), &config, "");
    let http = reqwest::Client::new();
    let delete = |body: Value| {
        let request = http
            .delete(format!("{base}/_synapse/admin/v1/rooms/{doomed}"))
            .bearer_auth(&admin.token)
            .json(&body);
        async move { request.send().await?.json::<Value>().await }
    };

    // Killed in the middle of the purge.
    let (mut child, log) = serve(&config_file, LOG);
    wait_up(&http, &base).await;
    let running = tokio::spawn(delete(json!({})));
    wait_for_line(&log, "room purge: rows deleted so far");
    kill9(&mut child);
    assert!(running.await.expect("join").is_err(), "the purge was still going");

    // At the restart the purge resumes on its own; meanwhile the room is answered as gone
    // (its state may be half deleted: no 500 from reading it).
    let (mut child, log) = serve(&config_file, LOG);
    wait_for_line(&log, "resuming a room purge cut short");
    wait_up(&http, &base).await;
    let details = http
        .get(format!("{base}/_synapse/admin/v1/rooms/{doomed}"))
        .bearer_auth(&admin.token)
        .send()
        .await
        .expect("details");
    assert_eq!(details.status(), 404, "a room being purged is as good as gone");
    wait_for_line(&log, "room purged and storage compacted");
    let again = delete(json!({})).await.expect("second delete");
    assert_eq!(again["kicked_users"], json!([]), "nothing left to shut down: {again}");
    stop(&mut child);

    assert_eq!(tables_containing(&config, doomed.as_bytes()), ["seq_auditrecord"]);
    assert_eq!(tables_containing(&config, DOOMED.as_bytes()), Vec::<&str>::new());
    assert_eq!(files_containing(dir.path(), DOOMED.as_bytes()), Vec::<String>::new());
    assert!(!tables_containing(&config, KEPT.as_bytes()).is_empty());
    assert!(!files_containing(dir.path(), KEPT.as_bytes()).is_empty());
}
