//! Simplified sliding sync (MSC4186): lists, ordering, ranges, filters, room subscriptions,
//! the long-poll and the connection's `pos`, as Element X's room list uses them.

use std::time::{Duration, Instant};

use accord_testkit::{TestServer, TestUser};
use serde_json::{Value, json};

/// The room list Element X asks for (timeline of one, name and membership state).
fn all_rooms(ranges: Value) -> Value {
    json!({
        "conn_id": "room-list",
        "lists": { "all_rooms": {
            "ranges": ranges,
            "timeline_limit": 1,
            "required_state": [["m.room.name", ""], ["m.room.member", "$ME"]],
        } },
    })
}

fn pos_of(body: &Value) -> String {
    body["pos"].as_str().expect("pos").to_owned()
}

fn count(body: &Value, list: &str) -> u64 {
    body["lists"][list]["count"].as_u64().expect("count")
}

fn bump(body: &Value, room: &str) -> u64 {
    body["rooms"][room]["bump_stamp"].as_u64().expect("bump_stamp")
}

/// The rooms of a response, newest bump first (the list's order, which the client rebuilds
/// from `bump_stamp`).
fn by_bump(body: &Value) -> Vec<String> {
    let mut rooms: Vec<(u64, String)> = body["rooms"]
        .as_object()
        .expect("rooms")
        .iter()
        .map(|(id, room)| (room["bump_stamp"].as_u64().expect("bump_stamp"), id.clone()))
        .collect();
    rooms.sort_by(|a, b| b.cmp(a));
    rooms.into_iter().map(|(_, id)| id).collect()
}

async fn rooms(server: &TestServer, user: &TestUser, n: usize) -> Vec<String> {
    let mut created = Vec::with_capacity(n);
    for i in 0..n {
        let room = server.create_room(user, json!({ "name": format!("room {i}") })).await;
        created.push(room);
    }
    created
}

#[tokio::test]
async fn versions_announce_simplified_sliding_sync() {
    let server = TestServer::start().await;
    let versions = server.get("/_matrix/client/versions", None).await.ok();
    assert_eq!(versions["unstable_features"]["org.matrix.simplified_msc3575"], true);
}

/// 200 rooms: the list counts them all and sends those in range, newest first; a message in
/// the 150th moves it to the top, and a request waiting on the connection gets it within
/// that one long-poll.
#[tokio::test]
async fn a_message_moves_the_150th_of_200_rooms_to_the_top_within_one_long_poll() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let created = rooms(&server, &alice, 200).await;

    let first = server
        .sliding_sync(&alice, None, 0, all_rooms(json!([[0, 19]])))
        .await
        .ok();
    assert_eq!(count(&first, "all_rooms"), 200);
    let shown = by_bump(&first);
    assert_eq!(shown.len(), 20, "only the rooms in range are sent");
    let newest_first: Vec<String> = created.iter().rev().take(20).cloned().collect();
    assert_eq!(shown, newest_first, "ordered by recency, the newest room first");
    for room in &shown {
        assert_eq!(first["rooms"][room]["initial"], true);
        assert_eq!(first["rooms"][room]["timeline"].as_array().map(Vec::len), Some(1));
    }

    // The whole list, then wait on the connection.
    let whole = server
        .sliding_sync(&alice, Some(&pos_of(&first)), 0, all_rooms(json!([[0, 199]])))
        .await
        .ok();
    assert_eq!(
        whole["rooms"].as_object().map(|r| r.len()),
        Some(180),
        "the 180 not yet sent"
    );
    let order: Vec<String> = created.iter().rev().cloned().collect();
    let the_150th = order[149].clone();
    let top_before = bump(&first, &order[0]);

    let pos = pos_of(&whole);
    let poll = async {
        let started = Instant::now();
        let reply = server
            .sliding_sync(&alice, Some(&pos), 20_000, all_rooms(json!([[0, 19]])))
            .await;
        (reply, started.elapsed())
    };
    let poke = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        server.send_text(&alice, &the_150th, "up you go").await
    };
    let ((reply, took), event) = tokio::join!(poll, poke);
    let body = reply.ok();
    assert!(
        took >= Duration::from_millis(450),
        "nothing was new before the message: it waited"
    );
    assert!(
        took < Duration::from_secs(10),
        "answered when the message arrived ({took:?})"
    );
    let rooms = body["rooms"].as_object().expect("rooms");
    assert_eq!(
        rooms.keys().collect::<Vec<_>>(),
        vec![&the_150th],
        "only the changed room: {body}"
    );
    let room = &body["rooms"][&the_150th];
    assert!(bump(&body, &the_150th) > top_before, "its bump_stamp is now the newest");
    assert_eq!(room["timeline"][0]["event_id"], event.as_str());
    assert_eq!(room["num_live"], 1);
    assert!(room.get("initial").is_none(), "the client holds the room already");
    assert_eq!(count(&body, "all_rooms"), 200);

    // A new connection's first room is now that one.
    let top = server
        .sliding_sync(&alice, None, 0, all_rooms(json!([[0, 0]])))
        .await
        .ok();
    assert_eq!(by_bump(&top), vec![the_150th]);
}

/// With nothing new, a long-poll returns empty at its timeout with a new `pos`; the rooms the
/// client holds are not sent again.
#[tokio::test]
async fn unchanged_rooms_are_not_sent_again() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    rooms(&server, &alice, 3).await;
    let first = server
        .sliding_sync(&alice, None, 0, all_rooms(json!([[0, 9]])))
        .await
        .ok();
    assert_eq!(first["rooms"].as_object().map(|r| r.len()), Some(3));
    let started = Instant::now();
    let again = server
        .sliding_sync(&alice, Some(&pos_of(&first)), 600, all_rooms(json!([[0, 9]])))
        .await
        .ok();
    assert!(
        started.elapsed() >= Duration::from_millis(550),
        "it waited for the timeout"
    );
    assert!(again["rooms"].as_object().is_none_or(|r| r.is_empty()), "{again}");
    assert_eq!(count(&again, "all_rooms"), 3);
    assert_ne!(pos_of(&again), pos_of(&first));
    // The same pos can be repeated (a lost response) and answers alike.
    let repeated = server
        .sliding_sync(&alice, Some(&pos_of(&first)), 0, all_rooms(json!([[0, 9]])))
        .await
        .ok();
    assert!(repeated["rooms"].as_object().is_none_or(|r| r.is_empty()));
}

#[tokio::test]
async fn filters_choose_dms_encrypted_rooms_invites_and_room_types() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    let plain = server.create_room(&alice, json!({})).await;
    let encrypted = server
        .create_room(
            &alice,
            json!({ "initial_state": [{ "type": "m.room.encryption", "state_key": "",
                "content": { "algorithm": "m.megolm.v1.aes-sha2" } }] }),
        )
        .await;
    let space = server
        .create_room(&alice, json!({ "creation_content": { "type": "m.space" } }))
        .await;
    let dm = server
        .create_room(&bob, json!({ "is_direct": true, "invite": [alice.user_id] }))
        .await;
    let filter = |filters: Value| {
        json!({ "lists": { "l": { "ranges": [[0, 20]], "timeline_limit": 0, "required_state": [],
            "filters": filters } } })
    };
    let listed = |body: &Value| {
        let mut rooms: Vec<String> = body["rooms"].as_object().expect("rooms").keys().cloned().collect();
        rooms.sort();
        rooms
    };
    let sorted = |mut rooms: Vec<String>| {
        rooms.sort();
        rooms
    };
    let body = server.sliding_sync(&alice, None, 0, filter(json!({}))).await.ok();
    assert_eq!(count(&body, "l"), 4);
    let body = server
        .sliding_sync(&alice, None, 0, filter(json!({ "is_invite": true })))
        .await
        .ok();
    assert_eq!(listed(&body), vec![dm.clone()], "the invite, marked is_direct");
    assert_eq!(body["rooms"][&dm]["is_dm"], true);
    let body = server
        .sliding_sync(&alice, None, 0, filter(json!({ "is_invited": false })))
        .await
        .ok();
    assert_eq!(
        listed(&body),
        sorted(vec![plain.clone(), encrypted.clone(), space.clone()])
    );
    let body = server
        .sliding_sync(&alice, None, 0, filter(json!({ "is_encrypted": true })))
        .await
        .ok();
    assert_eq!(listed(&body), vec![encrypted.clone()]);
    let body = server
        .sliding_sync(&alice, None, 0, filter(json!({ "room_types": ["m.space"] })))
        .await
        .ok();
    assert_eq!(listed(&body), vec![space.clone()]);
    let body = server
        .sliding_sync(
            &alice,
            None,
            0,
            filter(json!({ "not_room_types": ["m.space"], "is_invite": false })),
        )
        .await
        .ok();
    assert_eq!(listed(&body), sorted(vec![plain.clone(), encrypted.clone()]));
    let body = server
        .sliding_sync(
            &alice,
            None,
            0,
            filter(json!({ "room_types": [null] , "is_invite": false })),
        )
        .await
        .ok();
    assert_eq!(
        listed(&body),
        sorted(vec![plain.clone(), encrypted.clone()]),
        "null: rooms without a type"
    );
    // m.direct marks DMs of joined rooms.
    server
        .put(
            &format!("/_matrix/client/v3/user/{}/account_data/m.direct", alice.user_id),
            Some(&alice.token),
            json!({ bob.user_id.clone(): [plain] }),
        )
        .await
        .ok();
    let body = server
        .sliding_sync(&alice, None, 0, filter(json!({ "is_dm": true })))
        .await
        .ok();
    assert_eq!(listed(&body), sorted(vec![plain.clone(), dm.clone()]));
    assert_eq!(body["rooms"][&plain]["is_dm"], true);
}

/// A subscribed room is sent with the subscription's settings whether or not a list shows it;
/// a subscription to a room the user was never in is ignored.
#[tokio::test]
async fn room_subscriptions_send_rooms_outside_every_list() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    let created = rooms(&server, &alice, 3).await;
    for i in 0..4 {
        server.send_text(&alice, &created[0], &format!("message {i}")).await;
    }
    let strangers = server.create_room(&bob, json!({})).await;
    // created[0] is now the newest; the list shows only the newest room.
    let body = json!({
        "lists": { "l": { "ranges": [[0, 0]], "timeline_limit": 1, "required_state": [] } },
        "room_subscriptions": {
            created[1].clone(): { "timeline_limit": 3, "required_state": [["m.room.name", ""]] },
            strangers.clone(): { "timeline_limit": 3, "required_state": [] },
        },
    });
    let reply = server.sliding_sync(&alice, None, 0, body).await.ok();
    let rooms = reply["rooms"].as_object().expect("rooms");
    assert!(rooms.contains_key(&created[0]));
    assert!(rooms.contains_key(&created[1]));
    assert!(!rooms.contains_key(&strangers), "not alice's room");
    let subscribed = &reply["rooms"][&created[1]];
    assert_eq!(subscribed["timeline"].as_array().map(Vec::len), Some(3));
    assert_eq!(subscribed["required_state"][0]["type"], "m.room.name");
    assert_eq!(
        reply["rooms"][&created[0]]["timeline"].as_array().map(Vec::len),
        Some(1)
    );
}

/// A connection's `pos` is good only on it; starting a connection over drops its old `pos`;
/// a restarted server knows no `pos` at all: `M_UNKNOWN_POS` each time.
#[tokio::test]
async fn a_pos_belongs_to_one_connection_of_one_device() {
    let mut server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    rooms(&server, &alice, 1).await;
    let body = |conn: &str| json!({ "conn_id": conn, "lists": { "l": { "ranges": [[0, 9]], "timeline_limit": 1, "required_state": [] } } });
    let pos = pos_of(&server.sliding_sync(&alice, None, 0, body("a")).await.ok());
    server
        .sliding_sync(&alice, Some(&pos), 0, body("b"))
        .await
        .assert_error(400, "M_UNKNOWN_POS");
    server
        .sliding_sync(&bob, Some(&pos), 0, body("a"))
        .await
        .assert_error(400, "M_UNKNOWN_POS");
    server
        .sliding_sync(&alice, Some("this-pos-value-does-not-exist-1234567890"), 0, body("a"))
        .await
        .assert_error(400, "M_UNKNOWN_POS");
    // None of that touched the connection.
    let next = pos_of(&server.sliding_sync(&alice, Some(&pos), 0, body("a")).await.ok());
    // A request without pos starts over.
    server.sliding_sync(&alice, None, 0, body("a")).await.ok();
    server
        .sliding_sync(&alice, Some(&next), 0, body("a"))
        .await
        .assert_error(400, "M_UNKNOWN_POS");
    // The pos may come in the body too (the accepted MSC's place for it).
    let fresh = pos_of(&server.sliding_sync(&alice, None, 0, body("a")).await.ok());
    let mut in_body = body("a");
    in_body["pos"] = json!(fresh);
    server.sliding_sync(&alice, None, 0, in_body).await.ok();
    server.restart().await;
    server
        .sliding_sync(&alice, Some(&fresh), 0, body("a"))
        .await
        .assert_error(400, "M_UNKNOWN_POS");
}

/// `set_presence` sets the user's presence as `/sync` does.
#[tokio::test]
async fn set_presence_sets_presence() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let path = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync?set_presence=unavailable";
    server.post(path, Some(&alice.token), json!({})).await.ok();
    let presence = server
        .get(
            &format!("/_matrix/client/v3/presence/{}/status", alice.user_id),
            Some(&alice.token),
        )
        .await
        .ok();
    assert_eq!(presence["presence"], "unavailable");
}

/// `spaces` (children of the named spaces the user is in) and `tags` / `not_tags`.
#[tokio::test]
async fn spaces_and_tags_filters() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let space = server
        .create_room(&alice, json!({ "creation_content": { "type": "m.space" } }))
        .await;
    let child = server.create_room(&alice, json!({})).await;
    let other = server.create_room(&alice, json!({})).await;
    let server_name = alice
        .user_id
        .split_once(':')
        .map(|(_, s)| s.to_owned())
        .expect("server name");
    server
        .put(
            &format!("/_matrix/client/v3/rooms/{space}/state/m.space.child/{child}"),
            Some(&alice.token),
            json!({ "via": [server_name] }),
        )
        .await
        .ok();
    server
        .put(
            &format!("/_matrix/client/v3/user/{}/rooms/{other}/tags/u.work", alice.user_id),
            Some(&alice.token),
            json!({}),
        )
        .await
        .ok();
    let listed = |filters: Value| json!({ "lists": { "l": { "ranges": [[0, 9]], "timeline_limit": 0, "required_state": [], "filters": filters } } });
    let ids = |body: &Value| -> Vec<String> { body["rooms"].as_object().expect("rooms").keys().cloned().collect() };
    let body = server
        .sliding_sync(&alice, None, 0, listed(json!({ "spaces": [space] })))
        .await
        .ok();
    assert_eq!(ids(&body), vec![child.clone()]);
    let body = server
        .sliding_sync(&alice, None, 0, listed(json!({ "tags": ["u.work"] })))
        .await
        .ok();
    assert_eq!(ids(&body), vec![other.clone()]);
    let body = server
        .sliding_sync(
            &alice,
            None,
            0,
            listed(json!({ "not_tags": ["u.work"], "not_room_types": ["m.space"] })),
        )
        .await
        .ok();
    assert_eq!(ids(&body), vec![child]);
    server
        .sliding_sync(&alice, None, 0, listed(json!({ "spaces": ["not a room"] })))
        .await
        .assert_error(400, "M_INVALID_PARAM");
}
