//! The room DAG across two Accord servers: concurrent state changes during a partition are
//! resolved to the same state on both sides, and a gap in a server's history is filled from
//! the sending server with `/get_missing_events`.

use std::{collections::BTreeMap, time::Duration};

use accord_testkit::{TestServer, TestUser, ca::TestCa};
use serde_json::{Value, json};

use crate::federation_support::{
    SharedRoom, forge_with, id_of, origin, shared_room, stored_pdu, transact, wait_for_bodies,
};

/// The room's current state as `(type, state_key) -> event_id`.
async fn state_ids(server: &TestServer, user: &TestUser, room: &str) -> BTreeMap<(String, String), String> {
    let state = server
        .get(&format!("/_matrix/client/v3/rooms/{room}/state"), Some(&user.token))
        .await
        .ok();
    state
        .as_array()
        .expect("state array")
        .iter()
        .map(|e| {
            (
                (
                    e["type"].as_str().unwrap_or_default().to_owned(),
                    e["state_key"].as_str().unwrap_or_default().to_owned(),
                ),
                e["event_id"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Changes the room's power levels on `server`, adding `user_id` at `level`.
async fn grant(server: &TestServer, user: &TestUser, room: &str, user_id: &str, level: i64) -> String {
    let path = format!("/_matrix/client/v3/rooms/{room}/state/m.room.power_levels/");
    let mut content = server.get(&path, Some(&user.token)).await.ok();
    content["users"][user_id] = json!(level);
    server.put(&path, Some(&user.token), content).await.ok()["event_id"]
        .as_str()
        .expect("event id")
        .to_owned()
}

/// Cuts (or restores) federation between `a` and `b` by a config reload on both sides.
fn partition(a: &TestServer, b: &TestServer, cut: bool) {
    for (server, other) in [(a, b), (b, a)] {
        let mut config = server.config.clone();
        config.federation.denied_servers = if cut {
            vec![origin(other).to_string()]
        } else {
            Vec::new()
        };
        server.running().reload(&config);
    }
}

/// Waits until both servers report the same current state for `room`; returns it.
async fn converged(
    a: &TestServer,
    alice: &TestUser,
    b: &TestServer,
    bob: &TestUser,
    room: &str,
) -> BTreeMap<(String, String), String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (on_a, on_b) = (state_ids(a, alice, room).await, state_ids(b, bob, room).await);
        if on_a == on_b || std::time::Instant::now() > deadline {
            assert_eq!(on_a, on_b, "both servers resolve to the same state");
            return on_a;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn concurrent_power_level_changes_converge_to_the_same_state() {
    let ca = TestCa::new();
    let a = TestServer::start_federating(&ca, |_| {}).await;
    let b = TestServer::start_federating(&ca, |_| {}).await;
    let alice = a.register("alice", "pw-alice-1").await;
    let bob = b.register("bob", "pw-bob-1").await;
    let bob_id = format!("@bob:{}", origin(&b));
    let room = a
        .create_room(
            &alice,
            json!({
                "preset": "public_chat",
                "room_alias_name": "forks",
                "power_level_content_override": { "users": { alice.user_id.clone(): 100, bob_id.clone(): 100 } },
            }),
        )
        .await;
    b.join(&bob, &format!("#forks:{}", origin(&a))).await.ok();
    converged(&a, &alice, &b, &bob, &room).await;

    // While partitioned, both change the power levels and talk.
    partition(&a, &b, true);
    let on_a = grant(&a, &alice, &room, &format!("@carol:{}", origin(&a)), 50).await;
    let on_b = grant(&b, &bob, &room, &format!("@dave:{}", origin(&b)), 60).await;
    a.send_text(&alice, &room, "during the partition, on A").await;
    b.send_text(&bob, &room, "during the partition, on B").await;
    partition(&a, &b, false);

    let both = [
        "during the partition, on A".to_owned(),
        "during the partition, on B".to_owned(),
    ];
    for (server, user) in [(&a, &alice), (&b, &bob)] {
        let seen = wait_for_bodies(server, user, &room, &both, Duration::from_secs(30)).await;
        assert!(both.iter().all(|m| seen.contains(m)), "{seen:?}");
    }
    let state = converged(&a, &alice, &b, &bob, &room).await;
    let winner = &state[&("m.room.power_levels".to_owned(), String::new())];
    assert!(
        winner == &on_a || winner == &on_b,
        "the winner is one of the two: {winner}"
    );

    // New events merge the forks and still flow both ways.
    a.send_text(&alice, &room, "after the merge, from A").await;
    let seen = wait_for_bodies(
        &b,
        &bob,
        &room,
        &["after the merge, from A".to_owned()],
        Duration::from_secs(15),
    )
    .await;
    assert!(seen.contains(&"after the merge, from A".to_owned()), "{seen:?}");
    b.send_text(&bob, &room, "after the merge, from B").await;
    let seen = wait_for_bodies(
        &a,
        &alice,
        &room,
        &["after the merge, from B".to_owned()],
        Duration::from_secs(15),
    )
    .await;
    assert!(seen.contains(&"after the merge, from B".to_owned()), "{seen:?}");
    converged(&a, &alice, &b, &bob, &room).await;
}

#[tokio::test]
async fn a_gap_is_filled_from_the_sending_server() {
    let SharedRoom {
        mut a,
        b,
        alice,
        bob,
        room,
    } = shared_room("gaps").await;

    // A is down while Bob writes three messages; B's sender backs off.
    a.stop().await;
    let mut sent = Vec::new();
    for body in ["gap 1", "gap 2", "gap 3"] {
        sent.push(b.send_text(&bob, &room, body).await);
    }
    tokio::time::sleep(Duration::from_millis(3500)).await;
    a.restart().await;

    // Only the last one is handed to A: A fetches the two before it from B.
    let last = sent.last().expect("three sent").clone();
    let results = transact(&b, &a, vec![stored_pdu(&b, &last)])
        .await
        .expect("transaction");
    let key = ruma::OwnedEventId::try_from(last.as_str()).expect("event id");
    assert_eq!(results.get(&key), Some(&Ok(())), "{results:?}");
    let bodies: Vec<String> = ["gap 1", "gap 2", "gap 3"].iter().map(|s| (*s).to_owned()).collect();
    let seen = wait_for_bodies(&a, &alice, &room, &bodies, Duration::from_secs(10)).await;
    let arrived: Vec<&String> = seen.iter().filter(|b| b.starts_with("gap ")).collect();
    assert_eq!(arrived, bodies.iter().collect::<Vec<_>>(), "all three, in order");

    // A's history answers match: B's view of A's /event for the first gap event.
    let first: Value = serde_json::to_value(stored_pdu(&a, &sent[0])).expect("json");
    assert_eq!(first["content"]["body"], "gap 1");
}

#[tokio::test]
async fn history_from_before_the_join_is_backfilled() {
    let ca = TestCa::new();
    let a = TestServer::start_federating(&ca, |_| {}).await;
    let b = TestServer::start_federating(&ca, |_| {}).await;
    let alice = a.register("alice", "pw-alice-1").await;
    let bob = b.register("bob", "pw-bob-1").await;
    let room = a
        .create_room(&alice, json!({ "preset": "public_chat", "room_alias_name": "history" }))
        .await;
    // More than one /backfill answer (100) and more than one page (200): Complement's
    // TestMessagesOverFederation pages 300 events back 200 at a time.
    let sent: Vec<String> = (0..300).map(|i| format!("history {i}")).collect();
    for body in &sent {
        a.send_text(&alice, &room, body).await;
    }
    b.join(&bob, &format!("#history:{}", origin(&a))).await.ok();

    // B had none of it; paging /messages back fetches it from A, in order, same events, and
    // the room's creation too: history is complete back to the start.
    let on_b = page_back(&b, &bob, &room).await;
    let on_a = page_back(&a, &alice, &room).await;
    let messages = |events: &[Value]| -> Vec<(String, String)> {
        events
            .iter()
            .filter(|e| e["type"] == "m.room.message")
            .map(|e| {
                (
                    e["event_id"].as_str().unwrap_or_default().to_owned(),
                    e["content"]["body"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    };
    let (msgs_b, msgs_a) = (messages(&on_b), messages(&on_a));
    assert_eq!(msgs_b.iter().map(|(_, body)| body.clone()).collect::<Vec<_>>(), sent);
    assert_eq!(msgs_b, msgs_a, "the same events, in the same order");
    assert_eq!(on_b.first().map(|e| e["type"].clone()), Some(json!("m.room.create")));
}

/// TestMessagesOverFederation, "after re-joining room": B's user joins, leaves, and joins
/// again after A's user sent 20 messages B never received. Paging `/messages` back 10 at a time
/// crosses that hole in B's timeline: the messages are fetched and shown in order, between
/// the leave and the re-join.
#[tokio::test]
async fn history_missed_between_leave_and_rejoin_is_filled_in_place() {
    let ca = TestCa::new();
    let a = TestServer::start_federating(&ca, |_| {}).await;
    let b = TestServer::start_federating(&ca, |_| {}).await;
    let alice = a.register("alice", "pw-alice-1").await;
    let bob = b.register("bob", "pw-bob-1").await;
    let bob_id = bob.user_id.clone();
    let room = a
        .create_room(&alice, json!({ "preset": "public_chat", "room_alias_name": "rejoin" }))
        .await;
    let alias = format!("#rejoin:{}", origin(&a));
    b.join(&bob, &alias).await.ok();
    crate::federation_membership::wait_membership(&a, &alice, &room, &bob_id, "join").await;
    b.post(
        &format!("/_matrix/client/v3/rooms/{room}/leave"),
        Some(&bob.token),
        json!({}),
    )
    .await
    .ok();
    crate::federation_membership::wait_membership(&a, &alice, &room, &bob_id, "leave").await;
    let missed: Vec<String> = (0..20).map(|i| format!("while bob was away {i}")).collect();
    for body in &missed {
        a.send_text(&alice, &room, body).await;
    }
    b.join(&bob, &alias).await.ok();
    a.send_text(&alice, &room, "after the rejoin").await;
    wait_for_bodies(
        &b,
        &bob,
        &room,
        &["after the rejoin".to_owned()],
        Duration::from_secs(30),
    )
    .await;

    let on_b = page_back_by(&b, &bob, &room, 10).await;
    let bodies: Vec<&str> = on_b.iter().filter_map(|e| e["content"]["body"].as_str()).collect();
    let expected: Vec<&str> = missed.iter().map(String::as_str).chain(["after the rejoin"]).collect();
    assert_eq!(bodies, expected, "every message, in order");
    // In place: after Bob's leave, before his re-join.
    let position = |wanted: &dyn Fn(&Value) -> bool| on_b.iter().position(wanted);
    let is_bob = |e: &Value, membership: &str| {
        e["type"] == "m.room.member" && e["state_key"] == bob_id.as_str() && e["content"]["membership"] == membership
    };
    let leave = position(&|e| is_bob(e, "leave")).expect("bob's leave");
    let joins: Vec<usize> = on_b
        .iter()
        .enumerate()
        .filter(|(_, e)| is_bob(e, "join"))
        .map(|(i, _)| i)
        .collect();
    let first_missed = position(&|e| e["content"]["body"] == missed[0].as_str()).expect("first missed");
    let last_missed = position(&|e| e["content"]["body"] == missed[19].as_str()).expect("last missed");
    assert_eq!(joins.len(), 2, "both joins: {joins:?}");
    assert!(
        joins[0] < leave && leave < first_missed && last_missed < joins[1],
        "{joins:?} {leave} {first_missed} {last_missed}"
    );
    // The same events A has, in A's order.
    let ids = |events: &[Value]| -> Vec<String> {
        events
            .iter()
            .filter(|e| e["type"] == "m.room.message")
            .filter_map(|e| e["event_id"].as_str().map(str::to_owned))
            .collect()
    };
    assert_eq!(ids(&on_b), ids(&page_back(&a, &alice, &room).await));
    // The filled history stays out of /sync: an incremental sync after the paging has no
    // new timeline for the room.
    let since = b.sync(&bob, None, 0, None).await["next_batch"]
        .as_str()
        .expect("next_batch")
        .to_owned();
    let again = b.sync(&bob, Some(&since), 0, None).await;
    assert!(
        again["rooms"]["join"][&room]["timeline"]["events"]
            .as_array()
            .is_none_or(|e| e.is_empty()),
        "{again}"
    );
}

/// Every event of `room` as `user` sees it, oldest first, paging `/messages` back 200 at a time
/// until no `end` is given.
async fn page_back(server: &TestServer, user: &TestUser, room: &str) -> Vec<Value> {
    page_back_by(server, user, room, 200).await
}

/// [`page_back`] with pages of `limit` events.
async fn page_back_by(server: &TestServer, user: &TestUser, room: &str, limit: usize) -> Vec<Value> {
    let mut events = Vec::new();
    let mut from: Option<String> = None;
    for _ in 0..100 {
        let mut path = format!("/_matrix/client/v3/rooms/{room}/messages?dir=b&limit={limit}");
        if let Some(from) = &from {
            path.push_str(&format!("&from={from}"));
        }
        let page = server.get(&path, Some(&user.token)).await.ok();
        let chunk = page["chunk"].as_array().cloned().unwrap_or_default();
        let done = chunk.is_empty();
        events.extend(chunk);
        from = page["end"].as_str().map(str::to_owned);
        if done || from.is_none() {
            break;
        }
    }
    events.reverse();
    events
}

#[tokio::test]
async fn a_gap_longer_than_get_missing_events_is_crossed_with_the_state_at_the_missing_event() {
    let crate::federation_support::SharedRoom {
        a,
        mut b,
        alice,
        bob,
        room,
    } = crate::federation_support::shared_room("longgap").await;
    // Bob's view before the gap: a sync position, then a message of his.
    let since = b.sync(&bob, None, 0, None).await["next_batch"]
        .as_str()
        .expect("next_batch")
        .to_owned();
    b.send_text(&bob, &room, "bob before the gap").await;
    crate::federation_support::wait_for_bodies(
        &a,
        &alice,
        &room,
        &["bob before the gap".to_owned()],
        std::time::Duration::from_secs(30),
    )
    .await;
    // B misses 60 messages for good: it is down, and A's queue for B is emptied.
    b.stop().await;
    for i in 0..60 {
        a.send_text(&alice, &room, &format!("never delivered {i}")).await;
    }
    let db = a.running().services.rooms.rooms().db().clone();
    let b_name = crate::federation_support::origin(&b);
    let queued: Vec<u64> = db
        .queued_for(&b_name, 1000)
        .expect("queue")
        .into_iter()
        .map(|(count, _)| count)
        .collect();
    // A retry of B while it is down may already have trimmed the queue to the newest 50
    // (catch-up, see `federation_sender.rs`); either way all of it is dropped below.
    assert!(queued.len() >= 50, "A queued the messages for B: {}", queued.len());
    db.dequeue(&b_name, &queued).expect("dequeue");
    b.restart().await;
    a.running().reload(&a.config);

    // The next message cites the 60th: /get_missing_events gives B 50 of them, which can't
    // connect; B then learns the state at the 60th and accepts the new message on it.
    a.send_text(&alice, &room, "after the long gap").await;
    let seen = crate::federation_support::wait_for_bodies(
        &b,
        &bob,
        &room,
        &["after the long gap".to_owned()],
        std::time::Duration::from_secs(30),
    )
    .await;
    assert!(seen.contains(&"after the long gap".to_owned()), "{seen:?}");
    // Bob's next sync ends its timeline at the hole (TestSyncTimelineGap): limited, with the
    // events after it and none from before it, though all fit in the limit.
    let filter = serde_json::json!({ "room": { "timeline": { "limit": 100 } } });
    let sync = b.sync(&bob, Some(&since), 0, Some(filter)).await;
    let timeline = &sync["rooms"]["join"][&room]["timeline"];
    let bodies: Vec<&str> = timeline["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["content"]["body"].as_str())
        .collect();
    assert_eq!(timeline["limited"], true, "{bodies:?} {sync}");
    assert_eq!(bodies.last(), Some(&"after the long gap"), "{bodies:?}");
    assert!(bodies.contains(&"never delivered 59"), "{bodies:?}");
    assert!(!bodies.contains(&"bob before the gap"), "{bodies:?}");
    // Paging back crosses the hole: the 10 messages /get_missing_events did not reach are
    // fetched with /backfill and shown in place, all 60 in order after Bob's message.
    let history = page_back(&b, &bob, &room).await;
    let paged: Vec<&str> = history.iter().filter_map(|e| e["content"]["body"].as_str()).collect();
    let mut expected = vec!["bob before the gap".to_owned()];
    expected.extend((0..60).map(|i| format!("never delivered {i}")));
    expected.push("after the long gap".to_owned());
    assert_eq!(paged, expected, "the whole history, in order");
    // And the room goes on both ways.
    b.send_text(&bob, &room, "bob after the gap").await;
    let on_a = crate::federation_support::wait_for_bodies(
        &a,
        &alice,
        &room,
        &["bob after the gap".to_owned()],
        std::time::Duration::from_secs(30),
    )
    .await;
    assert!(on_a.contains(&"bob after the gap".to_owned()), "{on_a:?}");
}

/// TestInboundCanReturnMissingEvents: `/get_missing_events` follows the history visibility at
/// each event: events a server may not see (`joined` history from before its users joined)
/// come back redacted, not dropped and not whole; `shared` history comes back whole.
#[tokio::test]
async fn missing_events_follow_the_history_visibility_at_each_event() {
    use ruma::api::federation::event::get_missing_events::v1 as get_missing_events;
    let ca = TestCa::new();
    let a = TestServer::start_federating(&ca, |_| {}).await;
    let b = TestServer::start_federating(&ca, |_| {}).await;
    let alice = a.register("alice", "pw-alice-1").await;
    let bob = b.register("bob", "pw-bob-1").await;
    for (visibility, whole) in [("joined", false), ("shared", true)] {
        let room = a.create_room(&alice, json!({ "preset": "public_chat" })).await;
        a.put(
            &format!("/_matrix/client/v3/rooms/{room}/state/m.room.history_visibility/"),
            Some(&alice.token),
            json!({ "history_visibility": visibility }),
        )
        .await
        .ok();
        a.send_text(&alice, &room, "before bob").await;
        b.join(&bob, &room).await.ok();
        let room_id = ruma::OwnedRoomId::try_from(room.as_str()).expect("room id");
        let latest = a
            .running()
            .services
            .rooms
            .rooms()
            .db()
            .extremities(&room_id)
            .expect("extremities");
        let federation = b.running().services.federation.as_ref().expect("federation");
        let first = a
            .get(
                &format!("/_matrix/client/v3/rooms/{room}/messages?dir=f&limit=1"),
                Some(&alice.token),
            )
            .await
            .ok();
        let create_id =
            ruma::OwnedEventId::try_from(first["chunk"][0]["event_id"].as_str().expect("create")).expect("id");
        let mut request = get_missing_events::Request::new(room_id, vec![create_id], latest);
        request.limit = ruma::UInt::from(50u32);
        let answer = federation.client().send(&origin(&a), request).await.expect("answer");
        let events: Vec<Value> = answer
            .events
            .iter()
            .map(|raw| serde_json::from_str(raw.get()).expect("json"))
            .collect();
        let message = events
            .iter()
            .find(|e| e["type"] == "m.room.message")
            .unwrap_or_else(|| panic!("{visibility}: the message is there, whole or redacted: {events:?}"));
        assert_eq!(message["content"]["body"].is_string(), whole, "{visibility}: {message}");
    }
}

/// TestSyncOmitsStateChangeOnFilteredEvents: a state event that arrives late on an old branch
/// is not the initial sync's latest event (timelines are picked by depth), so it shows in
/// `state` even when a filter leaves the newest event out.
#[tokio::test]
async fn a_late_branch_state_event_is_in_the_initial_syncs_state() {
    use ruma::CanonicalJsonValue as V;
    let SharedRoom { a, b, alice, bob, room } = shared_room("latebranch").await;
    a.put(
        &format!("/_matrix/client/v3/rooms/{room}/state/m.room.power_levels/"),
        Some(&alice.token),
        json!({ "users": { alice.user_id.clone(): 100, bob.user_id.clone(): 100 } }),
    )
    .await
    .ok();
    let base_id = b.send_text(&bob, &room, "base").await;
    wait_for_bodies(&a, &alice, &room, &["base".to_owned()], Duration::from_secs(10)).await;
    let base = stored_pdu(&a, &base_id);
    let late = forge_with(&b, &base, "", |event| {
        event.insert("type".to_owned(), V::String("m.room.name".to_owned()));
        event.insert("state_key".to_owned(), V::String(String::new()));
        let content = [("name".to_owned(), V::String("I am the room name, S2".to_owned()))];
        event.insert("content".to_owned(), V::Object(content.into_iter().collect()));
    });
    a.send_text(&alice, &room, "E3").await;
    a.send_text(&alice, &room, "E4").await;
    let results = transact(&b, &a, vec![late.clone()]).await.expect("transaction");
    assert!(results.values().all(Result::is_ok), "{results:?}");
    a.put(
        &format!("/_matrix/client/v3/rooms/{room}/send/please_filter_me/e5"),
        Some(&alice.token),
        json!({ "body": "E5" }),
    )
    .await
    .ok();

    let filter = json!({ "room": { "timeline": { "not_types": ["please_filter_me"], "limit": 1 } } });
    let sync = a.sync(&alice, None, 0, Some(filter)).await;
    let section = &sync["rooms"]["join"][&room];
    let late_id = id_of(&late).to_string();
    let in_state = section["state"]["events"]
        .as_array()
        .expect("state")
        .iter()
        .any(|e| e["event_id"] == late_id.as_str());
    assert!(in_state, "the late name event in state: {section}");
    assert_eq!(section["timeline"]["events"][0]["content"]["body"], "E4", "{section}");
}
