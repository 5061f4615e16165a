//! Rooms over the client API: creation, sending, state, membership, redaction, history,
//! aliases and the directory, with their errors.

use accord_testkit::{TestServer, urlencode};
use serde_json::{Value, json};

fn state_of<'a>(state: &'a [Value], kind: &str, key: &str) -> Option<&'a Value> {
    state.iter().find(|e| e["type"] == kind && e["state_key"] == key)
}

#[tokio::test]
async fn create_room_applies_preset_name_topic_alias_and_overrides() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    let body = json!({
        "preset": "public_chat", "name": "Ops", "topic": "Operations", "room_alias_name": "ops",
        "invite": [bob.user_id], "power_level_content_override": { "events_default": 10 },
        "initial_state": [{ "type": "m.room.history_visibility", "state_key": "", "content": { "history_visibility": "world_readable" } }],
        "creation_content": { "m.federate": false },
    });
    let room = server.create_room(&alice, body).await;
    let state = server
        .get(&format!("/_matrix/client/v3/rooms/{room}/state"), Some(&alice.token))
        .await
        .ok();
    let state = state.as_array().expect("state array").clone();
    assert_eq!(
        state_of(&state, "m.room.name", "").expect("name")["content"]["name"],
        "Ops"
    );
    assert_eq!(
        state_of(&state, "m.room.topic", "").expect("topic")["content"]["topic"],
        "Operations"
    );
    assert_eq!(
        state_of(&state, "m.room.join_rules", "").expect("join rules")["content"]["join_rule"],
        "public"
    );
    assert_eq!(
        state_of(&state, "m.room.history_visibility", "").expect("hv")["content"]["history_visibility"],
        "world_readable"
    );
    assert_eq!(
        state_of(&state, "m.room.canonical_alias", "").expect("alias")["content"]["alias"],
        "#ops:localhost"
    );
    assert_eq!(
        state_of(&state, "m.room.create", "").expect("create")["content"]["m.federate"],
        false
    );
    let levels = &state_of(&state, "m.room.power_levels", "").expect("power levels")["content"];
    assert_eq!(levels["events_default"], 10);
    assert_eq!(levels["users"][&alice.user_id], 100);
    assert_eq!(
        state_of(&state, "m.room.member", &bob.user_id).expect("invite")["content"]["membership"],
        "invite"
    );
    let alias = server
        .get(
            &format!("/_matrix/client/v3/directory/room/{}", urlencode("#ops:localhost")),
            None,
        )
        .await
        .ok();
    assert_eq!(alias["room_id"], json!(room));
    // A private_chat defaults to invite-only with guests allowed.
    let private = server.create_room(&alice, json!({ "preset": "private_chat" })).await;
    let rules = server
        .get(
            &format!("/_matrix/client/v3/rooms/{private}/state/m.room.join_rules/"),
            Some(&alice.token),
        )
        .await
        .ok();
    assert_eq!(rules, json!({ "join_rule": "invite" }));
    // Taken alias.
    let reply = server
        .post(
            "/_matrix/client/v3/createRoom",
            Some(&alice.token),
            json!({ "room_alias_name": "ops" }),
        )
        .await;
    reply.assert_error(400, "M_ROOM_IN_USE");
}

#[tokio::test]
async fn every_supported_room_version_can_be_created_and_used() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    for version in 1..=12 {
        let room = server
            .create_room(&alice, json!({ "room_version": version.to_string(), "name": "v" }))
            .await;
        if version == 12 {
            assert!(!room.contains(':'), "v12 room ids are the create event's hash: {room}");
        }
        let event_id = server.send_text(&alice, &room, "hi").await;
        let event = server
            .get(
                &format!("/_matrix/client/v3/rooms/{room}/event/{}", urlencode(&event_id)),
                Some(&alice.token),
            )
            .await
            .ok();
        assert_eq!(event["content"]["body"], "hi", "room version {version}");
        let create = server
            .get(
                &format!("/_matrix/client/v3/rooms/{room}/state/m.room.create/"),
                Some(&alice.token),
            )
            .await
            .ok();
        assert_eq!(create["room_version"], json!(version.to_string()));
    }
    for bad in ["99", "org.example.custom"] {
        let reply = server
            .post(
                "/_matrix/client/v3/createRoom",
                Some(&alice.token),
                json!({ "room_version": bad }),
            )
            .await;
        reply.assert_error(400, "M_UNSUPPORTED_ROOM_VERSION");
    }
}

#[tokio::test]
async fn txn_id_replay_returns_the_same_event_also_after_restart() {
    let mut server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let room = server.create_room(&alice, json!({})).await;
    let path = format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/txn-1");
    let first = server
        .put(
            &path,
            Some(&alice.token),
            json!({ "msgtype": "m.text", "body": "once" }),
        )
        .await
        .ok();
    let again = server
        .put(
            &path,
            Some(&alice.token),
            json!({ "msgtype": "m.text", "body": "once" }),
        )
        .await
        .ok();
    assert_eq!(first["event_id"], again["event_id"]);
    server.restart().await;
    let after = server
        .put(
            &path,
            Some(&alice.token),
            json!({ "msgtype": "m.text", "body": "once" }),
        )
        .await
        .ok();
    assert_eq!(first["event_id"], after["event_id"]);
    let page = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=50"),
            Some(&alice.token),
        )
        .await
        .ok();
    let bodies = page["chunk"]
        .as_array()
        .expect("chunk")
        .iter()
        .filter(|e| e["content"]["body"] == "once")
        .count();
    assert_eq!(bodies, 1, "the replay must not create a second event");
}

#[tokio::test]
async fn joining_needs_an_invite_unless_public() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    let private = server.create_room(&alice, json!({ "preset": "private_chat" })).await;
    server.join(&bob, &private).await.assert_error(403, "M_FORBIDDEN");
    server
        .post(
            &format!("/_matrix/client/v3/rooms/{private}/invite"),
            Some(&alice.token),
            json!({ "user_id": bob.user_id }),
        )
        .await
        .ok();
    let joined = server
        .post(
            &format!("/_matrix/client/v3/rooms/{private}/join"),
            Some(&bob.token),
            json!({}),
        )
        .await
        .ok();
    assert_eq!(joined["room_id"], json!(private));

    let public = server
        .create_room(&alice, json!({ "preset": "public_chat", "room_alias_name": "lobby" }))
        .await;
    assert_eq!(
        server.join(&bob, "#lobby:localhost").await.ok()["room_id"],
        json!(public)
    );
    let rooms = server
        .get("/_matrix/client/v3/joined_rooms", Some(&bob.token))
        .await
        .ok();
    let rooms: Vec<&str> = rooms["joined_rooms"]
        .as_array()
        .expect("rooms")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        rooms.contains(&private.as_str()) && rooms.contains(&public.as_str()),
        "{rooms:?}"
    );
}

#[tokio::test]
async fn unknown_rooms_are_404() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let token = Some(alice.token.as_str());
    let nowhere = "!nowhere:localhost";
    server
        .put(
            &format!("/_matrix/client/v3/rooms/{nowhere}/send/m.room.message/t"),
            token,
            json!({ "body": "x" }),
        )
        .await
        .assert_error(404, "M_NOT_FOUND");
    // Reading a room the user isn't in is 403 whether it exists or not (no leak of which
    // rooms exist; Synapse answers the same).
    server
        .get(&format!("/_matrix/client/v3/rooms/{nowhere}/state"), token)
        .await
        .assert_error(403, "M_FORBIDDEN");
    server.join(&alice, nowhere).await.assert_error(404, "M_NOT_FOUND");
    server
        .join(&alice, "#missing:localhost")
        .await
        .assert_error(404, "M_NOT_FOUND");
    server
        .get(
            &format!("/_matrix/client/v3/directory/room/{}", urlencode("#missing:localhost")),
            token,
        )
        .await
        .assert_error(404, "M_NOT_FOUND");
}

#[tokio::test]
async fn power_levels_are_enforced_for_state_kick_ban_and_redaction() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    let carol = server.register("carol", "pw-carol-1").await;
    let room = server.create_room(&alice, json!({ "preset": "public_chat" })).await;
    server.join(&bob, &room).await.ok();
    server.join(&carol, &room).await.ok();
    let base = format!("/_matrix/client/v3/rooms/{room}");

    server
        .put(
            &format!("{base}/state/m.room.name/"),
            Some(&bob.token),
            json!({ "name": "mine" }),
        )
        .await
        .assert_error(403, "M_FORBIDDEN");
    server
        .post(
            &format!("{base}/kick"),
            Some(&bob.token),
            json!({ "user_id": carol.user_id }),
        )
        .await
        .assert_error(403, "M_FORBIDDEN");
    server
        .post(
            &format!("{base}/ban"),
            Some(&bob.token),
            json!({ "user_id": carol.user_id }),
        )
        .await
        .assert_error(403, "M_FORBIDDEN");

    let carols = server.send_text(&carol, &room, "carol's").await;
    let bobs = server.send_text(&bob, &room, "bob's").await;
    server
        .put(&format!("{base}/redact/{carols}/r1"), Some(&bob.token), json!({}))
        .await
        .assert_error(403, "M_FORBIDDEN");
    // Own events can be redacted without power; the creator can redact anyone's.
    server
        .put(
            &format!("{base}/redact/{bobs}/r2"),
            Some(&bob.token),
            json!({ "reason": "oops" }),
        )
        .await
        .ok();
    let redaction = server
        .put(&format!("{base}/redact/{carols}/r3"), Some(&alice.token), json!({}))
        .await
        .ok();
    let redacted = server
        .get(&format!("{base}/event/{carols}"), Some(&carol.token))
        .await
        .ok();
    assert_eq!(
        redacted["content"],
        json!({}),
        "redacted content is stripped: {redacted}"
    );
    assert_eq!(
        redacted["unsigned"]["redacted_because"]["event_id"],
        redaction["event_id"]
    );
    let own = server.get(&format!("{base}/event/{bobs}"), Some(&bob.token)).await.ok();
    assert_eq!(own["unsigned"]["redacted_because"]["content"]["reason"], "oops");

    // With power: kick, ban, unban.
    server
        .post(
            &format!("{base}/kick"),
            Some(&alice.token),
            json!({ "user_id": carol.user_id, "reason": "cool off" }),
        )
        .await
        .ok();
    let member = server
        .get(
            &format!("{base}/state/m.room.member/{}", carol.user_id),
            Some(&alice.token),
        )
        .await
        .ok();
    assert_eq!(
        (member["membership"].as_str(), member["reason"].as_str()),
        (Some("leave"), Some("cool off"))
    );
    server
        .post(
            &format!("{base}/ban"),
            Some(&alice.token),
            json!({ "user_id": carol.user_id }),
        )
        .await
        .ok();
    server.join(&carol, &room).await.assert_error(403, "M_FORBIDDEN");
    server
        .post(
            &format!("{base}/unban"),
            Some(&alice.token),
            json!({ "user_id": carol.user_id }),
        )
        .await
        .ok();
    server.join(&carol, &room).await.ok();
}

#[tokio::test]
async fn leave_forget_and_knock() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    let room = server.create_room(&alice, json!({ "preset": "public_chat" })).await;
    server.join(&bob, &room).await.ok();
    let base = format!("/_matrix/client/v3/rooms/{room}");
    server
        .post(&format!("{base}/forget"), Some(&bob.token), json!({}))
        .await
        .assert_error(400, "M_UNKNOWN");
    server
        .post(&format!("{base}/leave"), Some(&bob.token), json!({}))
        .await
        .ok();
    server.send_text(&alice, &room, "after bob left").await;
    // A former member reads state as of their departure, and history up to it.
    let state = server.get(&format!("{base}/state"), Some(&bob.token)).await.ok();
    let bob_member = state
        .as_array()
        .and_then(|s| state_of(s, "m.room.member", &bob.user_id).cloned())
        .expect("bob's member event");
    assert_eq!(bob_member["content"]["membership"], "leave");
    let page = server
        .get(&format!("{base}/messages?dir=b&limit=50"), Some(&bob.token))
        .await
        .ok();
    assert!(
        !page["chunk"]
            .as_array()
            .expect("chunk")
            .iter()
            .any(|e| e["content"]["body"] == "after bob left")
    );
    server
        .post(&format!("{base}/forget"), Some(&bob.token), json!({}))
        .await
        .ok();

    let knock_room = server
        .create_room(
            &alice,
            json!({ "room_version": "10",
        "initial_state": [{ "type": "m.room.join_rules", "state_key": "", "content": { "join_rule": "knock" } }] }),
        )
        .await;
    let knocked = server
        .post(
            &format!("/_matrix/client/v3/knock/{knock_room}"),
            Some(&bob.token),
            json!({ "reason": "let me in" }),
        )
        .await
        .ok();
    assert_eq!(knocked["room_id"], json!(knock_room));
    let member = server
        .get(
            &format!("/_matrix/client/v3/rooms/{knock_room}/members?membership=knock"),
            Some(&alice.token),
        )
        .await
        .ok();
    assert_eq!(member["chunk"][0]["state_key"], json!(bob.user_id));
    let invite_only = server.create_room(&alice, json!({ "preset": "private_chat" })).await;
    server
        .post(
            &format!("/_matrix/client/v3/knock/{invite_only}"),
            Some(&bob.token),
            json!({}),
        )
        .await
        .assert_error(403, "M_FORBIDDEN");
}

#[tokio::test]
async fn members_joined_members_event_and_context() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    let carol = server.register("carol", "pw-carol-1").await;
    let room = server
        .create_room(&alice, json!({ "preset": "public_chat", "invite": [carol.user_id] }))
        .await;
    server.join(&bob, &room).await.ok();
    let base = format!("/_matrix/client/v3/rooms/{room}");
    let members = server.get(&format!("{base}/members"), Some(&alice.token)).await.ok();
    assert_eq!(members["chunk"].as_array().map(Vec::len), Some(3));
    let joined = server
        .get(&format!("{base}/members?membership=join"), Some(&alice.token))
        .await
        .ok();
    assert_eq!(joined["chunk"].as_array().map(Vec::len), Some(2));
    let not_joined = server
        .get(&format!("{base}/members?not_membership=join"), Some(&alice.token))
        .await
        .ok();
    assert_eq!(not_joined["chunk"][0]["state_key"], json!(carol.user_id));
    let joined_members = server
        .get(&format!("{base}/joined_members"), Some(&bob.token))
        .await
        .ok();
    assert_eq!(joined_members["joined"][&alice.user_id]["display_name"], "alice");
    assert!(joined_members["joined"].get(&carol.user_id).is_none());
    server
        .get(&format!("{base}/joined_members"), Some(&carol.token))
        .await
        .assert_error(403, "M_FORBIDDEN");

    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(server.send_text(&alice, &room, &format!("m{i}")).await);
    }
    // `at` returns the member list as of an earlier stream position.
    let context = server
        .get(&format!("{base}/context/{}?limit=4", ids[3]), Some(&bob.token))
        .await
        .ok();
    assert_eq!(context["event"]["content"]["body"], "m3");
    let before: Vec<&str> = context["events_before"]
        .as_array()
        .expect("before")
        .iter()
        .filter_map(|e| e["content"]["body"].as_str())
        .collect();
    let after: Vec<&str> = context["events_after"]
        .as_array()
        .expect("after")
        .iter()
        .filter_map(|e| e["content"]["body"].as_str())
        .collect();
    assert_eq!(before, ["m2", "m1"]);
    assert_eq!(after, ["m4", "m5"]);
    assert!(
        context["state"]
            .as_array()
            .is_some_and(|s| s.iter().any(|e| e["type"] == "m.room.create"))
    );
    server
        .get(&format!("{base}/event/$nope"), Some(&bob.token))
        .await
        .assert_error(404, "M_NOT_FOUND");
}

#[tokio::test]
async fn messages_paginate_both_ways_with_filters() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let room = server.create_room(&alice, json!({})).await;
    for i in 0..25 {
        server.send_text(&alice, &room, &format!("m{i}")).await;
    }
    let base = format!("/_matrix/client/v3/rooms/{room}/messages");
    let filter = urlencode(&json!({ "types": ["m.room.message"] }).to_string());
    let mut bodies = Vec::new();
    let mut from: Option<String> = None;
    loop {
        let mut path = format!("{base}?dir=b&limit=10&filter={filter}");
        if let Some(from) = &from {
            path.push_str(&format!("&from={from}"));
        }
        let page = server.get(&path, Some(&alice.token)).await.ok();
        bodies.extend(
            page["chunk"]
                .as_array()
                .expect("chunk")
                .iter()
                .filter_map(|e| e["content"]["body"].as_str().map(str::to_owned)),
        );
        match page["end"].as_str() {
            Some(end) => from = Some(end.to_owned()),
            None => break,
        }
    }
    let expected: Vec<String> = (0..25).rev().map(|i| format!("m{i}")).collect();
    assert_eq!(bodies, expected);
    // Forward from the beginning, without a filter: state events first, then the messages.
    let page = server
        .get(&format!("{base}?dir=f&limit=100"), Some(&alice.token))
        .await
        .ok();
    let chunk = page["chunk"].as_array().expect("chunk");
    assert_eq!(chunk[0]["type"], "m.room.create");
    assert_eq!(chunk.last().expect("last")["content"]["body"], "m24");
    server
        .get(&format!("{base}?dir=b&from=banana"), Some(&alice.token))
        .await
        .assert_error(400, "M_INVALID_PARAM");
}

#[tokio::test]
async fn aliases_canonical_alias_and_directory() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    let room = server
        .create_room(
            &alice,
            json!({ "preset": "public_chat", "name": "Town square", "topic": "Everything" }),
        )
        .await;
    let alias_path = format!("/_matrix/client/v3/directory/room/{}", urlencode("#square:localhost"));
    server
        .put(&alias_path, Some(&alice.token), json!({ "room_id": room }))
        .await
        .ok();
    server
        .put(&alias_path, Some(&alice.token), json!({ "room_id": room }))
        .await
        .assert_error(409, "M_UNKNOWN");
    let aliases = server
        .get(&format!("/_matrix/client/v3/rooms/{room}/aliases"), Some(&alice.token))
        .await
        .ok();
    assert_eq!(aliases["aliases"], json!(["#square:localhost"]));
    let state_path = format!("/_matrix/client/v3/rooms/{room}/state/m.room.canonical_alias/");
    server
        .put(&state_path, Some(&alice.token), json!({ "alias": "#square:localhost" }))
        .await
        .ok();
    server
        .put(
            &state_path,
            Some(&alice.token),
            json!({ "alias": "#nothere:localhost" }),
        )
        .await
        .assert_error(400, "M_BAD_ALIAS");
    // Bob (not creator, no power) can't delete alice's alias.
    server.join(&bob, &room).await.ok();
    server
        .delete(&alias_path, Some(&bob.token), None)
        .await
        .assert_error(403, "M_FORBIDDEN");

    let visibility = format!("/_matrix/client/v3/directory/list/room/{room}");
    assert_eq!(server.get(&visibility, None).await.ok()["visibility"], "private");
    server
        .put(&visibility, Some(&bob.token), json!({ "visibility": "public" }))
        .await
        .assert_error(403, "M_FORBIDDEN");
    server
        .put(&visibility, Some(&alice.token), json!({ "visibility": "public" }))
        .await
        .ok();
    let second = server
        .create_room(&alice, json!({ "visibility": "public", "name": "Quiet corner" }))
        .await;
    let listed = server.get("/_matrix/client/v3/publicRooms", None).await.ok();
    assert_eq!(listed["total_room_count_estimate"], 2);
    assert_eq!(listed["chunk"][0]["room_id"], json!(room), "bigger room first");
    assert_eq!(listed["chunk"][0]["num_joined_members"], 2);
    assert_eq!(listed["chunk"][0]["canonical_alias"], "#square:localhost");
    let page = server.get("/_matrix/client/v3/publicRooms?limit=1", None).await.ok();
    assert_eq!(page["chunk"].as_array().map(Vec::len), Some(1));
    let next = page["next_batch"].as_str().expect("next_batch");
    let page2 = server
        .get(&format!("/_matrix/client/v3/publicRooms?limit=1&since={next}"), None)
        .await
        .ok();
    assert_eq!(page2["chunk"][0]["room_id"], json!(second));
    let searched = server
        .post(
            "/_matrix/client/v3/publicRooms",
            Some(&alice.token),
            json!({ "filter": { "generic_search_term": "quiet" } }),
        )
        .await
        .ok();
    assert_eq!(searched["chunk"].as_array().map(Vec::len), Some(1));
    assert_eq!(searched["chunk"][0]["name"], "Quiet corner");
    server.delete(&alias_path, Some(&alice.token), None).await.ok();
    server.get(&alias_path, None).await.assert_error(404, "M_NOT_FOUND");
}

#[tokio::test]
async fn restricted_rooms_admit_members_of_allowed_rooms() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    let carol = server.register("carol", "pw-carol-1").await;
    let space = server.create_room(&alice, json!({ "preset": "public_chat" })).await;
    server.join(&bob, &space).await.ok();
    let rules = json!({ "join_rule": "restricted", "allow": [{ "type": "m.room_membership", "room_id": space }] });
    let room = server
        .create_room(
            &alice,
            json!({ "room_version": "10", "initial_state": [{ "type": "m.room.join_rules", "state_key": "", "content": rules }] }),
        )
        .await;
    server.join(&bob, &room).await.ok();
    let member = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/state/m.room.member/{}", bob.user_id),
            Some(&bob.token),
        )
        .await
        .ok();
    assert_eq!(member["membership"], "join");
    assert_eq!(member["join_authorised_via_users_server"], json!(alice.user_id));
    server.join(&carol, &room).await.assert_error(403, "M_FORBIDDEN");
}
