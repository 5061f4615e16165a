//! Retention: a room with a one-day `m.room.retention` and 10,000 messages older than that.
//! A run stopped part-way (as by a crash) resumes where it stopped after a restart; after it,
//! no table and no database file holds the old bodies (after compaction), fresh messages and
//! state stay, the room still works, and the old messages' media is gone.

use accord_testkit::TestServer;
use serde_json::{Value, json};

use crate::{
    media_support::{fetch, media_path, upload},
    storage_scan::{files_containing, tables_containing},
};

const DAY_MS: u64 = 86_400_000;
const OLD_MESSAGES: usize = 10_000;
/// In every expired body; found nowhere afterwards.
const EXPIRED: &str = "zqexpiredbody";
/// In every fresh body; still found afterwards (the scan's positive control).
const FRESH: &str = "zqfreshbody";

async fn run(server: &TestServer, token: &str, body: Value) -> Value {
    server
        .post("/_accord/admin/v1/retention/run", Some(token), body)
        .await
        .ok()
}

#[tokio::test]
async fn expired_messages_leave_storage_and_a_stopped_run_resumes() {
    let mut server = TestServer::start_with(|config| {
        config.retention.enabled = true;
        config.retention.purge_interval_secs = 86_400;
    })
    .await;
    let admin = server.create_user("root", "pw-root-1", true).await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-12").await;
    let room = server
        .create_room(&alice, json!({ "preset": "public_chat", "name": "Kept name" }))
        .await;
    server.join(&bob, &room).await.ok();
    server
        .put(
            &format!("/_matrix/client/v3/rooms/{room}/state/m.room.retention/"),
            Some(&alice.token),
            json!({ "max_lifetime": DAY_MS }),
        )
        .await
        .ok();
    // A file sent two days ago, and 10,000 messages from then (timestamps as an application
    // service's timestamp massaging sets them).
    let file = upload(&server, &alice, b"old attachment".to_vec(), "text/plain", None).await;
    let services = server.running().services.clone();
    let sender = services.sessions.authenticate(&alice.token).expect("alice");
    let room_id = ruma::RoomId::parse(&room).expect("room id");
    let old = accord_core::time::now_millis() - 2 * DAY_MS;
    services
        .rooms
        .send_message_at(
            &sender,
            &room_id,
            "m.room.message",
            "file",
            json!({ "msgtype": "m.file", "body": "attachment", "url": file }),
            Some(old),
        )
        .await
        .expect("old file message");
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
    // The database must close at the restart below: no handle on it may stay here.
    drop(services);
    for n in 0..3 {
        server.send_text(&bob, &room, &format!("{FRESH} {n}")).await;
    }

    // Stopped after 3,000 events, as a crash would stop it; the restarted server goes on
    // from there (it does not start again from the beginning).
    let first = run(&server, &admin.token, json!({ "max_events": 3000 })).await;
    assert_eq!(
        (first["events_pruned"].clone(), first["stopped_early"].clone()),
        (json!(3000), json!(true))
    );
    server.restart().await;
    let rest = run(&server, &admin.token, json!({})).await;
    assert_eq!(rest["events_pruned"], json!(OLD_MESSAGES + 1 - 3000), "{rest}");
    assert_eq!(
        first["media_deleted"], 1,
        "the file message was among the first expired"
    );
    assert_eq!(rest["stopped_early"], false);
    let again = run(&server, &admin.token, json!({})).await;
    assert_eq!(again["events_pruned"], 0, "nothing left to prune");

    // The room works: fresh messages and state stay, new messages go through, search finds
    // fresh words and none of the old.
    let history = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=10"),
            Some(&bob.token),
        )
        .await
        .ok();
    let text = history.to_string();
    assert!(
        text.contains(&format!("{FRESH} 2")) && !text.contains(EXPIRED),
        "{text}"
    );
    let name = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/state/m.room.name/"),
            Some(&bob.token),
        )
        .await
        .ok();
    assert_eq!(name["name"], "Kept name");
    server.send_text(&alice, &room, "still working").await;
    let file_gone = fetch(
        &server,
        &format!("/_matrix/client/v1/media/download/{}", media_path(&file)),
        Some(&alice.token),
    )
    .await;
    assert_eq!(file_gone.status, 404);
    let body = json!({ "search_categories": { "room_events": { "search_term": EXPIRED } } });
    let found = server
        .post("/_matrix/client/v3/search", Some(&bob.token), body)
        .await
        .ok();
    assert_eq!(found["search_categories"]["room_events"]["count"], 0, "{found}");
    let audit = server
        .get("/_accord/admin/v1/audit?kind=retention_purged", Some(&admin.token))
        .await
        .ok();
    assert_eq!(
        audit["records"].as_array().map(Vec::len),
        Some(2),
        "one record per run that pruned"
    );

    // No byte of the old bodies in any table or database file; the fresh ones are there.
    server.stop().await;
    assert_eq!(tables_containing(&server, EXPIRED.as_bytes()), []);
    let kept: usize = tables_containing(&server, FRESH.as_bytes())
        .iter()
        .map(|(_, rows)| rows)
        .sum();
    assert!(kept >= 3, "the scan finds what is kept");
    let leftovers = files_containing(server.dir(), EXPIRED.as_bytes());
    assert!(leftovers.is_empty(), "expired bodies found in {leftovers:?}");
}
