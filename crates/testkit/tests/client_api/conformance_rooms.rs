//! Rooms and events as Complement and Synapse-era clients expect them (issue 12).

use accord_testkit::{TestServer, TestUser};
use serde_json::{Value, json};

async fn state(server: &TestServer, user: &TestUser, room: &str, kind: &str) -> Value {
    server
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/state/{kind}"),
            Some(&user.token),
        )
        .await
        .ok()
}

/// TestRoomState: `/joined_members` gives `display_name` and `avatar_url` for every member,
/// null when unset.
#[tokio::test]
async fn joined_members_list_both_profile_fields() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let room = server.create_room(&alice, json!({})).await;
    let reply = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/joined_members"),
            Some(&alice.token),
        )
        .await
        .ok();
    let me = &reply["joined"][&alice.user_id];
    let fields = me.as_object().expect("alice listed");
    assert!(
        fields.contains_key("display_name") && fields.contains_key("avatar_url"),
        "{reply}"
    );
    assert_eq!(me["avatar_url"], Value::Null);
}

/// TestRoomCreate: a topic given at creation carries its rich form (`m.topic`, spec v1.15).
#[tokio::test]
async fn room_topic_has_its_rich_form() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let room = server
        .create_room(&alice, json!({ "topic": "Test Room", "preset": "public_chat" }))
        .await;
    let topic = state(&server, &alice, &room, "m.room.topic").await;
    assert_eq!(topic["topic"], "Test Room");
    assert_eq!(topic["m.topic"]["m.text"][0]["body"], "Test Room");
    assert_eq!(topic["m.topic"]["m.text"][0]["mimetype"], "text/plain");
}

/// TestRoomCreationReportsEventsToMyself: setting the same state twice answers the same
/// event; different content is a new event.
#[tokio::test]
async fn the_same_state_twice_is_one_event() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let room = server.create_room(&alice, json!({})).await;
    let path = format!("/_matrix/client/v3/rooms/{room}/state/a.test.state.type/");
    let first = server
        .put(&path, Some(&alice.token), json!({ "a_key": "a_value" }))
        .await
        .ok();
    let again = server
        .put(&path, Some(&alice.token), json!({ "a_key": "a_value" }))
        .await
        .ok();
    assert_eq!(first["event_id"], again["event_id"]);
    let other = server
        .put(&path, Some(&alice.token), json!({ "a_key": "other" }))
        .await
        .ok();
    assert_ne!(first["event_id"], other["event_id"]);
}

/// TestMembershipOnEvents (MSC4115, spec v1.11): each event carries the viewer's membership
/// at it: `leave` before they joined, `join` from their join on.
#[tokio::test]
async fn events_carry_the_viewers_membership_at_them() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    let room = server
        .create_room(
            &alice,
            json!({ "preset": "public_chat", "initial_state": [
            { "type": "m.room.history_visibility", "state_key": "", "content": { "history_visibility": "shared" } }
        ] }),
        )
        .await;
    server.send_text(&alice, &room, "prejoin").await;
    server.join(&bob, &room).await.ok();
    server.send_text(&alice, &room, "postjoin").await;
    let sync = server
        .sync(&bob, None, 0, Some(json!({ "room": { "timeline": { "limit": 50 } } })))
        .await;
    let events = sync["rooms"]["join"][&room]["timeline"]["events"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut seen_join = false;
    for event in &events {
        if event["type"] == "m.room.member" && event["state_key"] == bob.user_id.as_str() {
            seen_join = true;
        }
        let expected = if seen_join { "join" } else { "leave" };
        assert_eq!(event["unsigned"]["membership"], expected, "{event}");
    }
    assert!(seen_join, "{sync}");
    assert!(events.iter().any(|e| e["content"]["body"] == "prejoin"));
}

/// TestTxnIdempotency: a transaction id is scoped to one endpoint: the same id in another
/// room is a new event; in the same room, the first event whatever the new content.
#[tokio::test]
async fn transaction_ids_are_scoped_to_the_endpoint() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let one = server.create_room(&alice, json!({})).await;
    let two = server.create_room(&alice, json!({})).await;
    let send = |room: &str, body: &str| {
        let path = format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/txn1");
        let body = json!({ "msgtype": "m.text", "body": body });
        let server = &server;
        let token = alice.token.clone();
        async move { server.put(&path, Some(&token), body).await.ok()["event_id"].clone() }
    };
    let first = send(&one, "first").await;
    assert_eq!(send(&one, "first").await, first);
    assert_eq!(send(&one, "second").await, first);
    assert_ne!(send(&two, "first").await, first);
}

/// TestEvent: an event over the spec's 65536 bytes is 413 M_TOO_LARGE, not a server error.
#[tokio::test]
async fn oversized_events_are_too_large() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let room = server.create_room(&alice, json!({})).await;
    let body = "and they dont stop coming ".repeat(2700);
    server
        .put(
            &format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/big"),
            Some(&alice.token),
            json!({ "msgtype": "m.text", "body": body }),
        )
        .await
        .assert_error(413, "M_TOO_LARGE");
    server
        .put(
            &format!("/_matrix/client/v3/rooms/{room}/state/marvel.universe.fate"),
            Some(&alice.token),
            json!({ "body": "Dormammu, I've Come To Bargain.\n".repeat(2200) }),
        )
        .await
        .assert_error(413, "M_TOO_LARGE");
    server.send_text(&alice, &room, "still serving").await;
}

/// TestRoomCanonicalAlias, TestRoomForget, TestFetchMessagesFromNonExistentRoom: errcodes.
#[tokio::test]
async fn errcodes_of_aliases_forget_and_unknown_rooms() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let room = server.create_room(&alice, json!({})).await;
    let canonical = format!("/_matrix/client/v3/rooms/{room}/state/m.room.canonical_alias");
    server
        .put(
            &canonical,
            Some(&alice.token),
            json!({ "alias": "%invalid_aliases:hs1" }),
        )
        .await
        .assert_error(400, "M_INVALID_PARAM");
    server
        .put(&canonical, Some(&alice.token), json!({ "alias": "#missing:localhost" }))
        .await
        .assert_error(400, "M_BAD_ALIAS");
    server
        .post(
            &format!("/_matrix/client/v3/rooms/{room}/forget"),
            Some(&alice.token),
            json!({}),
        )
        .await
        .assert_error(400, "M_UNKNOWN");
    let server_name = alice
        .user_id
        .split_once(':')
        .map(|(_, s)| s.to_owned())
        .expect("server");
    server
        .get(
            &format!("/_matrix/client/v3/rooms/!does-not-exist:{server_name}/messages?dir=b"),
            Some(&alice.token),
        )
        .await
        .assert_error(403, "M_FORBIDDEN");
    // A forgotten room's history is closed too.
    server
        .post(
            &format!("/_matrix/client/v3/rooms/{room}/leave"),
            Some(&alice.token),
            json!({}),
        )
        .await
        .ok();
    server
        .post(
            &format!("/_matrix/client/v3/rooms/{room}/forget"),
            Some(&alice.token),
            json!({}),
        )
        .await
        .ok();
    server
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/messages?dir=b"),
            Some(&alice.token),
        )
        .await
        .assert_error(403, "M_FORBIDDEN");
}

/// TestRoomDeleteAlias: deleting the canonical alias takes it out of `m.room.canonical_alias`.
#[tokio::test]
async fn deleting_the_canonical_alias_updates_the_room() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let room = server.create_room(&alice, json!({})).await;
    let server_name = alice
        .user_id
        .split_once(':')
        .map(|(_, s)| s.to_owned())
        .expect("server");
    let alias = format!("#gone:{server_name}");
    let directory = format!(
        "/_matrix/client/v3/directory/room/{}",
        accord_testkit::urlencode(&alias)
    );
    server
        .put(&directory, Some(&alice.token), json!({ "room_id": room }))
        .await
        .ok();
    server
        .put(
            &format!("/_matrix/client/v3/rooms/{room}/state/m.room.canonical_alias"),
            Some(&alice.token),
            json!({ "alias": alias }),
        )
        .await
        .ok();
    let since = server.sync(&alice, None, 0, None).await["next_batch"]
        .as_str()
        .expect("token")
        .to_owned();
    server.delete(&directory, Some(&alice.token), None).await.ok();
    let sync = server.sync(&alice, Some(&since), 0, None).await;
    let events = sync["rooms"]["join"][&room]["timeline"]["events"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "m.room.canonical_alias" && e["content"] == json!({})),
        "{sync}"
    );
}

/// TestRoomMembers: keys a client adds to a join's body stay in its member event.
#[tokio::test]
async fn a_joins_extra_keys_stay_in_the_member_event() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    let room = server.create_room(&alice, json!({ "preset": "public_chat" })).await;
    server
        .post(
            &format!("/_matrix/client/v3/join/{room}"),
            Some(&bob.token),
            json!({ "foo": "bar", "membership": "leave" }),
        )
        .await
        .ok();
    let member = state(&server, &bob, &room, &format!("m.room.member/{}", bob.user_id)).await;
    assert_eq!(member["membership"], "join");
    assert_eq!(member["foo"], "bar");
}

/// TestMSC4289PrivilegedRoomCreators and friends (room version 12): creators hold no power
/// level (400 for power levels naming one), the tombstone needs 150, additional creators are
/// validated, and a trusted private chat's invitees become creators; the create event can't
/// be sent again (400, TestMSC4291..._CannotSendCreateEvent).
#[tokio::test]
async fn room_version_12_creators() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    let create = |body: Value| {
        let server = &server;
        let token = alice.token.clone();
        async move { server.post("/_matrix/client/v3/createRoom", Some(&token), body).await }
    };
    let room = create(json!({ "room_version": "12", "preset": "public_chat" }))
        .await
        .ok()["room_id"]
        .as_str()
        .expect("room")
        .to_owned();
    let levels = state(&server, &alice, &room, "m.room.power_levels").await;
    assert_eq!(levels["users"], json!({}), "{levels}");
    assert_eq!(levels["events"]["m.room.tombstone"], 150, "{levels}");
    server
        .put(
            &format!("/_matrix/client/v3/rooms/{room}/state/m.room.power_levels/"),
            Some(&alice.token),
            json!({ "users": { alice.user_id.clone(): 100 } }),
        )
        .await
        .assert_error(400, "M_BAD_JSON");
    server
        .put(
            &format!("/_matrix/client/v3/rooms/{room}/state/m.room.create/"),
            Some(&alice.token),
            json!({ "room_version": "12", "entropy": 100 }),
        )
        .await
        .assert_error(400, "M_BAD_JSON");

    create(
        json!({ "room_version": "12", "power_level_content_override": { "users": { alice.user_id.clone(): 100 } } }),
    )
    .await
    .assert_error(400, "M_BAD_JSON");
    for bad in [
        json!("not-an-array"),
        json!(["@foo:example.com", 42]),
        json!(["@foo:example.com", "not-a-user-id"]),
    ] {
        create(json!({ "room_version": "12", "creation_content": { "additional_creators": bad } }))
            .await
            .assert_error(400, "M_BAD_JSON");
    }
    create(json!({ "room_version": "12", "creation_content": { "additional_creators": ["@foo:example.com", "@bar:baz.code"] } }))
        .await
        .ok();

    let trusted = create(json!({
        "room_version": "12", "preset": "trusted_private_chat", "is_direct": true,
        "invite": [bob.user_id], "creation_content": { "additional_creators": ["@charlie:example.com"] },
    }))
    .await
    .ok()["room_id"]
        .as_str()
        .expect("room")
        .to_owned();
    let content = state(&server, &alice, &trusted, "m.room.create").await;
    let mut creators: Vec<&str> = content["additional_creators"]
        .as_array()
        .expect("additional_creators")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    creators.sort_unstable();
    let mut expected = vec![bob.user_id.as_str(), "@charlie:example.com"];
    expected.sort_unstable();
    assert_eq!(creators, expected);
}

/// TestRestrictedRoomsLocalJoin: a join after a join carrying a `join_authorised_via_users_server`
/// that isn't a user id is a profile change like any other, not a malformed event.
#[tokio::test]
async fn a_rejoin_ignores_the_join_authoriser_field() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let room = server.create_room(&alice, json!({ "room_version": "10" })).await;
    server
        .put(
            &format!("/_matrix/client/v3/rooms/{room}/state/m.room.member/{}", alice.user_id),
            Some(&alice.token),
            json!({ "membership": "join", "displayname": "Bobby", "join_authorised_via_users_server": "unused" }),
        )
        .await
        .ok();
    let member = state(&server, &alice, &room, &format!("m.room.member/{}", alice.user_id)).await;
    assert_eq!(member["displayname"], "Bobby");
}

/// TestMSC4311FullCreateEventOnStrippedState: the create event in an invite's stripped state
/// keeps its timestamp and id.
#[tokio::test]
async fn an_invites_create_event_is_whole() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    let room = server
        .create_room(
            &alice,
            json!({ "room_version": "12", "preset": "public_chat", "invite": [bob.user_id] }),
        )
        .await;
    let sync = server.sync(&bob, None, 0, None).await;
    let create = sync["rooms"]["invite"][&room]["invite_state"]["events"]
        .as_array()
        .expect("invite_state")
        .iter()
        .find(|e| e["type"] == "m.room.create")
        .cloned()
        .expect("create event");
    assert!(create["origin_server_ts"].is_u64(), "{create}");
    assert!(create["event_id"].is_string(), "{create}");
}

/// TestGetRoomMembersAtPoint: `prev_batch` of a whole (not limited) timeline is the sync's own
/// position, as Synapse gives it, so `/members?at=prev_batch` lists who was in the room then,
/// not who is in it now; a point before the room's first event has no members (404), and is
/// never answered with the current ones.
#[tokio::test]
async fn members_at_a_sync_point_are_those_of_that_point() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    let room = server.create_room(&alice, json!({ "preset": "public_chat" })).await;
    server.send_text(&alice, &room, "Hello world!").await;
    let sync = server.sync(&alice, None, 0, None).await;
    let timeline = &sync["rooms"]["join"][&room]["timeline"];
    assert_eq!(timeline["limited"], false, "{timeline}");
    let at = timeline["prev_batch"].as_str().expect("prev_batch").to_owned();
    server.join(&bob, &room).await.ok();
    server.send_text(&bob, &room, "Hello back").await;

    let members = |at: String| {
        let server = &server;
        let token = alice.token.clone();
        let room = room.clone();
        async move {
            server
                .get(
                    &format!("/_matrix/client/v3/rooms/{room}/members?at={at}"),
                    Some(&token),
                )
                .await
        }
    };
    let then = members(at.clone()).await;
    assert_eq!(then.status, 200, "{:?}", then.body);
    let who: Vec<&str> = then.body["chunk"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["state_key"].as_str())
        .collect();
    assert_eq!(who, vec![alice.user_id.as_str()], "{:?}", then.body);
    members("0".to_owned()).await.assert_error(404, "M_NOT_FOUND");
    // Paging back from such a prev_batch still reaches the room's start.
    let page = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/messages?dir=b&from={at}&limit=50"),
            Some(&alice.token),
        )
        .await
        .ok();
    let chunk = page["chunk"].as_array().cloned().unwrap_or_default();
    assert_eq!(
        chunk.last().map(|e| e["type"].clone()),
        Some(json!("m.room.create")),
        "{page}"
    );
}
