//! Threaded read receipts and per-thread unread counts (spec "Threaded read receipts"): the
//! behaviours Complement's TestThreadedReceipts and TestThreadReceiptsInSync check, the
//! `thread_id` errors of `/receipt`, and the relation type filters of MSC3874 on `/messages`.

use accord_testkit::{TestServer, TestUser, urlencode};
use serde_json::{Value, json};

fn message(body: &str) -> Value {
    json!({ "msgtype": "m.text", "body": body })
}

fn related(body: &str, rel_type: &str, parent: &str) -> Value {
    json!({
        "msgtype": "m.text",
        "body": body,
        "m.relates_to": { "rel_type": rel_type, "event_id": parent },
    })
}

async fn receipt(server: &TestServer, user: &TestUser, room: &str, event: &str, body: Value) {
    let path = format!("/_matrix/client/v3/rooms/{room}/receipt/m.read/{event}");
    let reply = server.post(&path, Some(&user.token), body).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

/// `(notification_count, highlight_count)` of the room, and each thread's, from a sync since
/// `since` with or without `unread_thread_notifications`.
async fn counts(
    server: &TestServer,
    user: &TestUser,
    room: &str,
    since: &str,
    per_thread: bool,
) -> ((u64, u64), Value) {
    let filter = per_thread.then(|| json!({ "room": { "timeline": { "unread_thread_notifications": true } } }));
    let sync = server.sync(user, Some(since), 0, filter).await;
    let joined = &sync["rooms"]["join"][room];
    let unread = &joined["unread_notifications"];
    let pair = (
        unread["notification_count"].as_u64().expect("notification_count"),
        unread["highlight_count"].as_u64().expect("highlight_count"),
    );
    (pair, joined["unread_thread_notifications"].clone())
}

fn thread_pair(threads: &Value, root: &str) -> (u64, u64) {
    let counts = &threads[root];
    (
        counts["notification_count"].as_u64().unwrap_or(0),
        counts["highlight_count"].as_u64().unwrap_or(0),
    )
}

#[tokio::test]
async fn receipts_per_thread_drive_main_and_thread_counts() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    let room = server.create_room(&alice, json!({ "preset": "public_chat" })).await;
    assert_eq!(server.join(&bob, &room).await.status, 200);
    let after_join = server.sync(&bob, None, 0, None).await["next_batch"]
        .as_str()
        .expect("next_batch")
        .to_owned();

    // A <- B, C (mentions bob), E in A's thread; D (mentions bob) and F (references A) in the
    // main timeline; G a reaction to F, which notifies nobody.
    let a = server.send_text(&alice, &room, "Hello world!").await;
    let b = server
        .send_event(
            &alice,
            &room,
            "m.room.message",
            related("Start thread!", "m.thread", &a),
        )
        .await;
    let mention = format!("Thread response {}!", bob.user_id);
    server
        .send_event(&alice, &room, "m.room.message", related(&mention, "m.thread", &a))
        .await;
    let d = server
        .send_event(
            &alice,
            &room,
            "m.room.message",
            message(&format!("Hello {}!", bob.user_id)),
        )
        .await;
    server
        .send_event(&alice, &room, "m.room.message", related("End thread", "m.thread", &a))
        .await;
    let f = server
        .send_event(
            &alice,
            &room,
            "m.room.message",
            related("Reference!", "m.reference", &a),
        )
        .await;
    let g = server
        .send_event(
            &alice,
            &room,
            "m.room.reaction",
            json!({ "m.relates_to": { "rel_type": "m.annotation", "event_id": f, "key": "test" } }),
        )
        .await;

    // Nothing read: 6 notify, C and D highlight; per thread, 3 in the main timeline (A, D,
    // F) and 3 in A's thread.
    let (total, threads) = counts(&server, &bob, &room, &after_join, false).await;
    assert_eq!((total, threads.is_null()), ((6, 2), true));
    let (main, threads) = counts(&server, &bob, &room, &after_join, true).await;
    assert_eq!((main, thread_pair(&threads, &a)), ((3, 1), (3, 1)));

    // A `main` receipt on A reads A only.
    receipt(&server, &bob, &room, &a, json!({ "thread_id": "main" })).await;
    assert_eq!(counts(&server, &bob, &room, &after_join, false).await.0, (5, 2));
    let (main, threads) = counts(&server, &bob, &room, &after_join, true).await;
    assert_eq!((main, thread_pair(&threads, &a)), ((2, 1), (3, 1)));

    // A receipt in A's thread on B reads B only.
    receipt(&server, &bob, &room, &b, json!({ "thread_id": a })).await;
    assert_eq!(counts(&server, &bob, &room, &after_join, false).await.0, (4, 2));
    let (main, threads) = counts(&server, &bob, &room, &after_join, true).await;
    assert_eq!((main, thread_pair(&threads, &a)), ((2, 1), (2, 1)));

    // An unthreaded receipt on D reads everything up to D, in threads or not.
    receipt(&server, &bob, &room, &d, json!({})).await;
    assert_eq!(counts(&server, &bob, &room, &after_join, false).await.0, (2, 0));
    let (main, threads) = counts(&server, &bob, &room, &after_join, true).await;
    assert_eq!((main, thread_pair(&threads, &a)), ((1, 0), (1, 0)));

    // A thread receipt on G (not in the thread, accepted as Synapse does) reads the thread to
    // there; a thread with nothing unread is left out, and so is an empty map.
    receipt(&server, &bob, &room, &g, json!({ "thread_id": a })).await;
    let (total, threads) = counts(&server, &bob, &room, &after_join, false).await;
    assert_eq!((total, threads.is_null()), ((1, 0), true));
    let (main, threads) = counts(&server, &bob, &room, &after_join, true).await;
    assert_eq!((main, threads.is_null()), ((1, 0), true));

    // The receipts as the room's members see them: each with its thread_id, the latest per
    // thread.
    let sync = server.sync(&alice, None, 0, None).await;
    let receipts: Vec<&Value> = sync["rooms"]["join"][&room]["ephemeral"]["events"]
        .as_array()
        .expect("ephemeral")
        .iter()
        .filter(|e| e["type"] == "m.receipt")
        .collect();
    let bobs = |event: &str| -> Vec<Value> {
        receipts
            .iter()
            .filter_map(|r| r["content"][event]["m.read"].get(bob.user_id.as_str()).cloned())
            .collect()
    };
    assert_eq!(bobs(&a).len(), 1);
    assert_eq!(bobs(&a)[0]["thread_id"], "main");
    // The thread's receipt moved on from B to G.
    assert!(bobs(&b).is_empty(), "{:?}", bobs(&b));
    assert_eq!(bobs(&g)[0]["thread_id"], json!(a));
    assert!(bobs(&d)[0].get("thread_id").is_none(), "{:?}", bobs(&d));
}

#[tokio::test]
async fn an_unthreaded_and_a_threaded_receipt_on_one_event_both_reach_sync() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let room = server.create_room(&alice, json!({ "preset": "public_chat" })).await;
    let a = server.send_text(&alice, &room, "Hello world!").await;
    let b = server
        .send_event(
            &alice,
            &room,
            "m.room.message",
            related("Start thread!", "m.thread", &a),
        )
        .await;
    receipt(&server, &alice, &room, &b, json!({})).await;
    receipt(&server, &alice, &room, &b, json!({ "thread_id": a })).await;

    let sync = server.sync(&alice, None, 0, None).await;
    let threads: Vec<Value> = sync["rooms"]["join"][&room]["ephemeral"]["events"]
        .as_array()
        .expect("ephemeral")
        .iter()
        .filter(|e| e["type"] == "m.receipt")
        .filter_map(|e| e["content"][&b]["m.read"].get(alice.user_id.as_str()).cloned())
        .map(|data| data.get("thread_id").cloned().unwrap_or(Value::Null))
        .collect();
    assert_eq!(threads.len(), 2, "{threads:?}");
    assert!(threads.contains(&Value::Null) && threads.contains(&json!(a)));
}

#[tokio::test]
async fn bad_thread_ids_are_rejected_and_store_nothing() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let room = server.create_room(&alice, json!({})).await;
    let event = server.send_text(&alice, &room, "hi").await;
    let since = server.sync(&alice, None, 0, None).await["next_batch"]
        .as_str()
        .expect("next_batch")
        .to_owned();

    for (kind, body) in [
        ("m.read", json!({ "thread_id": "not-a-thread" })),
        ("m.read", json!({ "thread_id": "" })),
        ("m.read.private", json!({ "thread_id": "nope" })),
        ("m.fully_read", json!({ "thread_id": "main" })),
    ] {
        let path = format!("/_matrix/client/v3/rooms/{room}/receipt/{kind}/{event}");
        let reply = server.post(&path, Some(&alice.token), body.clone()).await;
        assert_eq!(reply.status, 400, "{kind} {body}: {}", reply.body);
        assert!(
            matches!(reply.errcode(), Some("M_INVALID_PARAM" | "M_BAD_JSON")),
            "{}",
            reply.body
        );
    }
    let sync = server.sync(&alice, Some(&since), 0, None).await;
    assert!(
        sync["rooms"]["join"][&room]["ephemeral"].is_null(),
        "a refused receipt reached sync: {sync}"
    );
}

#[tokio::test]
async fn messages_filter_by_relation_type() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let room = server.create_room(&alice, json!({})).await;
    let root = server.send_text(&alice, &room, "root").await;
    let in_thread = server
        .send_event(&alice, &room, "m.room.message", related("reply", "m.thread", &root))
        .await;
    let reference = server
        .send_event(&alice, &room, "m.room.message", related("see", "m.reference", &root))
        .await;

    let page = |filter: Value| {
        let server = &server;
        let alice = &alice;
        let room = &room;
        async move {
            let path = format!(
                "/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=50&filter={}",
                urlencode(&filter.to_string())
            );
            let reply = server.get(&path, Some(&alice.token)).await;
            assert_eq!(reply.status, 200, "{}", reply.body);
            reply.body["chunk"]
                .as_array()
                .expect("chunk")
                .iter()
                .map(|e| e["event_id"].as_str().expect("event_id").to_owned())
                .collect::<Vec<_>>()
        }
    };
    let only_threads = page(json!({ "org.matrix.msc3874.rel_types": ["m.thread"] })).await;
    assert_eq!(only_threads, vec![in_thread.clone()]);
    let no_threads = page(json!({ "org.matrix.msc3874.not_rel_types": ["m.thread"] })).await;
    assert!(no_threads.contains(&root) && no_threads.contains(&reference));
    assert!(!no_threads.contains(&in_thread));

    // A filter that isn't a filter is the spec's 400.
    let path = format!(
        "/_matrix/client/v3/rooms/{room}/messages?dir=b&filter={}",
        urlencode("{\"org.matrix.msc3874.rel_types\": 5}")
    );
    let reply = server.get(&path, Some(&alice.token)).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
}
