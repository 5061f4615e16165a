//! Delayed events (MSC4140): scheduled messages and state sent when due and in order, listed
//! for their owner only, cancelled, restarted and sent early by delay id without a login; a
//! delayed state event cancelled when someone else sets that state first, but not by its
//! owner; scheduled events surviving a restart (those overdue sent at start); bad delays and
//! ids refused. What Complement's msc4140 TestDelayedEvents checks.

use std::time::Duration;

use accord_testkit::{TestServer, TestUser};
use serde_json::{Value, json};

const DELAY: &str = "org.matrix.msc4140.delay";

async fn delayed_message(
    server: &TestServer,
    user: &TestUser,
    room: &str,
    txn: &str,
    delay: u64,
    body: Value,
) -> String {
    let reply = server
        .put(
            &format!("/_matrix/client/v3/rooms/{room}/send/com.example.test/{txn}?{DELAY}={delay}"),
            Some(&user.token),
            body,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.body.get("event_id").is_none(), "{}", reply.body);
    reply.body["delay_id"].as_str().expect("delay_id").to_owned()
}

async fn delayed_state(server: &TestServer, user: &TestUser, room: &str, key: &str, delay: u64, body: Value) -> String {
    let reply = server
        .put(
            &format!("/_matrix/client/v3/rooms/{room}/state/com.example.test/{key}?{DELAY}={delay}"),
            Some(&user.token),
            body,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["delay_id"].as_str().expect("delay_id").to_owned()
}

async fn listed(server: &TestServer, user: &TestUser) -> Vec<Value> {
    server
        .get(
            "/_matrix/client/unstable/org.matrix.msc4140/delayed_events",
            Some(&user.token),
        )
        .await
        .ok()["delayed_events"]
        .as_array()
        .expect("delayed_events")
        .clone()
}

async fn act(server: &TestServer, delay_id: &str, action: &str) -> accord_testkit::Reply {
    server
        .post(
            &format!("/_matrix/client/unstable/org.matrix.msc4140/delayed_events/{delay_id}/{action}"),
            None,
            json!({}),
        )
        .await
}

async fn state_value(server: &TestServer, user: &TestUser, room: &str, key: &str) -> Option<Value> {
    let reply = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/state/com.example.test/{key}"),
            Some(&user.token),
        )
        .await;
    (reply.status == 200).then_some(reply.body)
}

async fn setup() -> (TestServer, TestUser, TestUser, String) {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    let room = server
        .create_room(
            &alice,
            json!({ "preset": "public_chat", "power_level_content_override": { "events": { "com.example.test": 0 } } }),
        )
        .await;
    assert_eq!(server.join(&bob, &room).await.status, 200);
    (server, alice, bob, room)
}

#[tokio::test]
async fn delayed_messages_are_sent_in_order_when_due() {
    let (server, alice, bob, room) = setup().await;
    let since = server.sync(&alice, None, 0, None).await["next_batch"]
        .as_str()
        .expect("next_batch")
        .to_owned();
    for (n, delay) in [(1, 300), (2, 400), (3, 500)] {
        delayed_message(&server, &alice, &room, &format!("t{n}"), delay, json!({ "count": n })).await;
    }
    // The same transaction again, even without its body, answers the same delay id.
    let first = delayed_message(&server, &alice, &room, "retried", 60_000, json!({ "x": 1 })).await;
    let reply = server
        .request_bytes(
            reqwest::Method::PUT,
            &format!("/_matrix/client/v3/rooms/{room}/send/com.example.test/retried?{DELAY}=60000"),
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(reply.body["delay_id"], json!(first), "{}", reply.body);
    assert_eq!(act(&server, &first, "cancel").await.status, 200);
    let waiting = listed(&server, &alice).await;
    assert_eq!(waiting.len(), 3);
    assert_eq!(
        waiting.iter().filter(|e| e["content"] == json!({ "count": 1 })).count(),
        1
    );
    assert!(listed(&server, &bob).await.is_empty(), "only the owner sees them");
    let unauthed = server
        .get("/_matrix/client/unstable/org.matrix.msc4140/delayed_events", None)
        .await;
    assert_eq!(unauthed.status, 401);

    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(listed(&server, &alice).await.is_empty());
    let page = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/messages?dir=f&from={since}&limit=50"),
            Some(&alice.token),
        )
        .await
        .ok();
    let counts: Vec<&Value> = page["chunk"]
        .as_array()
        .expect("chunk")
        .iter()
        .filter(|e| e["type"] == "com.example.test")
        .map(|e| &e["content"]["count"])
        .collect();
    assert_eq!(counts, [&json!(1), &json!(2), &json!(3)]);
}

#[tokio::test]
async fn delayed_state_is_cancelled_restarted_or_sent_early() {
    let (server, alice, _bob, room) = setup().await;
    let cancelled = delayed_state(&server, &alice, &room, "cancelled", 800, json!({ "v": 1 })).await;
    let early = delayed_state(&server, &alice, &room, "early", 60_000, json!({ "v": 2 })).await;
    let restarted = delayed_state(&server, &alice, &room, "restarted", 900, json!({ "v": 3 })).await;
    assert!(state_value(&server, &alice, &room, "early").await.is_none());
    // No login needed to act on a delay id.
    assert_eq!(act(&server, &cancelled, "cancel").await.status, 200);
    assert_eq!(act(&server, &early, "send").await.status, 200);
    assert_eq!(
        state_value(&server, &alice, &room, "early").await,
        Some(json!({ "v": 2 }))
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(act(&server, &restarted, "restart").await.status, 200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        state_value(&server, &alice, &room, "restarted").await.is_none(),
        "the restart moved it on"
    );
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(
        state_value(&server, &alice, &room, "restarted").await,
        Some(json!({ "v": 3 }))
    );
    assert!(state_value(&server, &alice, &room, "cancelled").await.is_none());
    for (id, action) in [("nonexistent", "send"), (cancelled.as_str(), "cancel")] {
        let reply = act(&server, id, action).await;
        assert_eq!(
            (reply.status, reply.errcode()),
            (404, Some("M_NOT_FOUND")),
            "{}",
            reply.body
        );
    }
    let reply = act(&server, &restarted, "oops").await;
    assert_eq!(reply.status, 404, "{}", reply.body);
}

#[tokio::test]
async fn another_users_state_cancels_a_delayed_state_event_but_the_owners_does_not() {
    let (server, alice, bob, room) = setup().await;
    delayed_state(&server, &alice, &room, "shared", 900, json!({ "by": "alice later" })).await;
    let reply = server
        .put(
            &format!("/_matrix/client/v3/rooms/{room}/state/com.example.test/shared"),
            Some(&bob.token),
            json!({ "by": "bob" }),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(
        listed(&server, &alice).await.is_empty(),
        "bob's state cancels alice's delayed one"
    );
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(
        state_value(&server, &alice, &room, "shared").await,
        Some(json!({ "by": "bob" }))
    );

    delayed_state(&server, &alice, &room, "own", 900, json!({ "by": "alice later" })).await;
    let reply = server
        .put(
            &format!("/_matrix/client/v3/rooms/{room}/state/com.example.test/own"),
            Some(&alice.token),
            json!({ "by": "alice now" }),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(listed(&server, &alice).await.len(), 1);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(
        state_value(&server, &alice, &room, "own").await,
        Some(json!({ "by": "alice later" }))
    );
}

/// Complement's "delayed state events are kept on server restart": one event overdue by the
/// restart is already sent when the first request after it arrives (no polling), and the other
/// keeps its deadline counted from when it was scheduled, not from the restart.
#[tokio::test]
async fn scheduled_events_survive_a_restart() {
    let (mut server, alice, _bob, room) = setup().await;
    delayed_state(&server, &alice, &room, "1", 900, json!({ "n": 1 })).await;
    let scheduled = std::time::Instant::now();
    delayed_state(&server, &alice, &room, "2", 4_000, json!({ "n": 2 })).await;
    assert_eq!(listed(&server, &alice).await.len(), 2);
    server.stop().await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    server.restart().await;
    let waiting = listed(&server, &alice).await;
    assert_eq!(
        waiting.len(),
        1,
        "the overdue one went before the server answered: {waiting:?}"
    );
    assert_eq!(waiting[0]["state_key"], "2");
    assert_eq!(
        state_value(&server, &alice, &room, "1").await,
        Some(json!({ "n": 1 })),
        "overdue at start: sent"
    );
    assert!(state_value(&server, &alice, &room, "2").await.is_none());
    // Due 4 s after scheduling; a deadline restarted at start would fall past 5 s.
    tokio::time::sleep(Duration::from_millis(4_600).saturating_sub(scheduled.elapsed())).await;
    assert!(
        scheduled.elapsed() < Duration::from_millis(5_000),
        "the test itself ran late"
    );
    assert!(listed(&server, &alice).await.is_empty());
    assert_eq!(state_value(&server, &alice, &room, "2").await, Some(json!({ "n": 2 })));
}

#[tokio::test]
async fn bad_delays_are_refused() {
    let (server, alice, _bob, room) = setup().await;
    let outsider = server.register("eve", "pw-eve-1").await;
    for (user, delay) in [
        (&alice, "0"),
        (&alice, "abc"),
        (&alice, "999999999999"),
        (&outsider, "500"),
    ] {
        let reply = server
            .put(
                &format!("/_matrix/client/v3/rooms/{room}/send/com.example.test/bad{delay}?{DELAY}={delay}"),
                Some(&user.token),
                json!({ "x": 1 }),
            )
            .await;
        assert!(
            matches!(reply.status, 400 | 403),
            "{delay}: {} {}",
            reply.status,
            reply.body
        );
    }
    assert!(listed(&server, &alice).await.is_empty());
    assert!(listed(&server, &outsider).await.is_empty());
}
