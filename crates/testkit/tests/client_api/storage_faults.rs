//! A failed fsync, injected through the storage engine trait: the sender gets an error, the
//! event never appears in /sync or /messages, and storage refuses later writes (fail-stop)
//! while reads keep being served.

use accord_testkit::TestServer;
use serde_json::{Value, json};

fn bodies(events: &Value) -> Vec<String> {
    events
        .as_array()
        .map(|events| {
            events
                .iter()
                .filter_map(|e| e["content"]["body"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_failed_fsync_reaches_the_client_and_the_event_is_never_shown() {
    let (server, faults) = TestServer::start_faulty().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let room = server.create_room(&alice, json!({})).await;
    server.send_text(&alice, &room, "before the fault").await;
    let before = server.sync(&alice, None, 0, None).await;
    let since = before["next_batch"].as_str().expect("token").to_owned();

    faults.fail_syncs();
    let reply = server
        .put(
            &format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/doomed-1"),
            Some(&alice.token),
            json!({ "msgtype": "m.text", "body": "doomed" }),
        )
        .await;
    assert_eq!(reply.status, 500, "{}", reply.body);
    assert_eq!(reply.body["errcode"], "M_UNKNOWN");

    let page = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=50"),
            Some(&alice.token),
        )
        .await
        .ok();
    let seen = bodies(&page["chunk"]);
    assert!(seen.contains(&"before the fault".to_owned()), "{seen:?}");
    assert!(
        !seen.contains(&"doomed".to_owned()),
        "/messages shows no unsynced event: {seen:?}"
    );

    let initial = server.sync(&alice, None, 0, None).await;
    let timeline = &initial["rooms"]["join"][&room]["timeline"]["events"];
    assert!(!bodies(timeline).contains(&"doomed".to_owned()), "{timeline}");
    let incremental = server.sync(&alice, Some(&since), 500, None).await;
    let timeline = &incremental["rooms"]["join"][&room]["timeline"]["events"];
    assert!(!bodies(timeline).contains(&"doomed".to_owned()), "{timeline}");

    // Fail-stop: later writes are refused with an error rather than half-done.
    let again = server
        .put(
            &format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/doomed-2"),
            Some(&alice.token),
            json!({ "msgtype": "m.text", "body": "also refused" }),
        )
        .await;
    assert_eq!(again.status, 500, "{}", again.body);
    assert!(server.running().services.db().storage_failed().is_some());
}
