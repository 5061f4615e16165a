//! Room upgrades (spec: "Room Upgrades"): the replacement room with the old one's state,
//! aliases and listing, the tombstone, the old room quietened, the errors in Synapse's order,
//! the creator rules of room version 12 (MSC4289, MSC4291), and each member's push rules,
//! tags and `m.direct` following the room, on this server and on another. The behaviours of
//! Complement's TestPushRuleRoomUpgrade, TestMSC4289PrivilegedRoomCreators_Upgrades and
//! TestMSC4291RoomIDAsHashOfCreateEvent_UpgradedRooms.

use accord_testkit::{TestServer, TestUser, urlencode};
use serde_json::{Value, json};

use crate::federation_support::shared_room;

async fn upgrade(server: &TestServer, user: &TestUser, room: &str, body: Value) -> accord_testkit::Reply {
    server
        .post(
            &format!("/_matrix/client/v3/rooms/{room}/upgrade"),
            Some(&user.token),
            body,
        )
        .await
}

async fn state(server: &TestServer, user: &TestUser, room: &str, kind: &str) -> Value {
    let reply = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/state/{kind}/"),
            Some(&user.token),
        )
        .await;
    assert_eq!(reply.status, 200, "{kind} in {room}: {}", reply.body);
    reply.body
}

async fn put_room_rule(server: &TestServer, user: &TestUser, room: &str, action: &str) {
    let reply = server
        .put(
            &format!("/_matrix/client/v3/pushrules/global/room/{}", urlencode(room)),
            Some(&user.token),
            json!({ "actions": [action] }),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

/// The actions of the user's room rule for `room`, if there is one.
async fn room_rule(server: &TestServer, user: &TestUser, room: &str) -> Option<Value> {
    let rules = server
        .get("/_matrix/client/v3/pushrules/", Some(&user.token))
        .await
        .ok();
    rules["global"]["room"]
        .as_array()?
        .iter()
        .find(|rule| rule["rule_id"] == room)
        .map(|rule| rule["actions"].clone())
}

#[tokio::test]
async fn an_upgrade_moves_state_aliases_listing_and_settings() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    let old = server
        .create_room(
            &alice,
            json!({
                "preset": "public_chat", "room_version": "10", "visibility": "public",
                "room_alias_name": "townhall", "name": "Town hall", "topic": "Agendas",
            }),
        )
        .await;
    assert_eq!(server.join(&bob, &old).await.status, 200);
    let last_before = server.send_text(&alice, &old, "last words").await;
    put_room_rule(&server, &alice, &old, "dont_notify").await;
    put_room_rule(&server, &bob, &old, "dont_notify").await;
    let tag = server
        .put(
            &format!("/_matrix/client/v3/user/{}/rooms/{old}/tags/u.work", alice.user_id),
            Some(&alice.token),
            json!({ "order": 0.5 }),
        )
        .await;
    assert_eq!(tag.status, 200, "{}", tag.body);
    let direct = server
        .put(
            &format!("/_matrix/client/v3/user/{}/account_data/m.direct", alice.user_id),
            Some(&alice.token),
            json!({ bob.user_id.clone(): [old.clone()] }),
        )
        .await;
    assert_eq!(direct.status, 200, "{}", direct.body);

    let reply = upgrade(&server, &alice, &old, json!({ "new_version": "11" })).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let new = reply.body["replacement_room"]
        .as_str()
        .expect("replacement_room")
        .to_owned();

    let tombstone = state(&server, &alice, &old, "m.room.tombstone").await;
    assert_eq!(tombstone["replacement_room"], json!(new));
    let create = state(&server, &alice, &new, "m.room.create").await;
    assert_eq!(create["room_version"], "11");
    assert_eq!(create["predecessor"]["room_id"], json!(old));
    assert_eq!(create["predecessor"]["event_id"], json!(last_before));
    assert!(create.get("additional_creators").is_none());
    assert_eq!(state(&server, &alice, &new, "m.room.name").await["name"], "Town hall");
    assert_eq!(state(&server, &alice, &new, "m.room.topic").await["topic"], "Agendas");
    assert_eq!(
        state(&server, &alice, &new, "m.room.join_rules").await["join_rule"],
        "public"
    );
    // The alias names the new room; the old room keeps no local alias.
    let alias = format!("#townhall:{}", alice.user_id.split_once(':').expect("server").1);
    let resolved = server
        .get(
            &format!("/_matrix/client/v3/directory/room/{}", urlencode(&alias)),
            None,
        )
        .await
        .ok();
    assert_eq!(resolved["room_id"], json!(new));
    assert_eq!(state(&server, &alice, &old, "m.room.canonical_alias").await, json!({}));
    assert_eq!(
        state(&server, &alice, &new, "m.room.canonical_alias").await["alias"],
        json!(alias)
    );
    // Listed: the new room, not the old.
    let listed = server.get("/_matrix/client/v3/publicRooms", None).await.ok();
    let listed: Vec<&str> = listed["chunk"]
        .as_array()
        .expect("chunk")
        .iter()
        .filter_map(|room| room["room_id"].as_str())
        .collect();
    assert!(
        listed.contains(&new.as_str()) && !listed.contains(&old.as_str()),
        "{listed:?}"
    );
    // The old room quietened.
    let levels = state(&server, &alice, &old, "m.room.power_levels").await;
    assert!(
        levels["events_default"].as_i64() >= Some(50) && levels["invite"].as_i64() >= Some(50),
        "{levels}"
    );
    // The upgrader is no more powerful in the new room than in the old.
    let new_levels = state(&server, &alice, &new, "m.room.power_levels").await;
    assert_eq!(new_levels["users"][&alice.user_id], 100);

    // Each local member's settings followed the room.
    for user in [&alice, &bob] {
        assert_eq!(room_rule(&server, user, &old).await, Some(json!(["dont_notify"])));
        assert_eq!(
            room_rule(&server, user, &new).await,
            Some(json!(["dont_notify"])),
            "{}",
            user.user_id
        );
    }
    let tags = server
        .get(
            &format!("/_matrix/client/v3/user/{}/rooms/{new}/tags", alice.user_id),
            Some(&alice.token),
        )
        .await
        .ok();
    assert_eq!(tags["tags"]["u.work"]["order"], 0.5);
    let direct = server
        .get(
            &format!("/_matrix/client/v3/user/{}/account_data/m.direct", alice.user_id),
            Some(&alice.token),
        )
        .await
        .ok();
    assert_eq!(direct[&bob.user_id], json!([old, new]));
}

#[tokio::test]
async fn upgrade_errors_come_in_synapse_order_and_create_nothing() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    let room = server.create_room(&alice, json!({ "preset": "public_chat" })).await;
    assert_eq!(server.join(&bob, &room).await.status, 200);
    let joined_before = server
        .get("/_matrix/client/v3/joined_rooms", Some(&alice.token))
        .await
        .ok();

    let cases = [
        (
            "!fail:unknown",
            json!({ "new_version": "jp.dragon-ball.v9000" }),
            &alice,
            400,
            "M_UNSUPPORTED_ROOM_VERSION",
        ),
        (
            "!fail:unknown",
            json!({ "new_version": "6" }),
            &alice,
            404,
            "M_NOT_FOUND",
        ),
        (room.as_str(), json!({ "new_version": "11" }), &bob, 403, "M_FORBIDDEN"),
        (room.as_str(), json!({}), &alice, 400, "M_BAD_JSON"),
    ];
    for (target, body, user, status, errcode) in cases {
        let reply = upgrade(&server, user, target, body.clone()).await;
        assert_eq!(reply.status, status, "{target} {body}: {}", reply.body);
        assert_eq!(reply.errcode(), Some(errcode), "{}", reply.body);
    }
    let joined_after = server
        .get("/_matrix/client/v3/joined_rooms", Some(&alice.token))
        .await
        .ok();
    assert_eq!(joined_before, joined_after, "a refused upgrade created a room");
    let tombstone = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/state/m.room.tombstone/"),
            Some(&alice.token),
        )
        .await;
    assert_eq!(tombstone.status, 404, "{}", tombstone.body);
}

/// Creates a room of `version` with `users` as its power levels' `users`, Bob and Charlie
/// joined; `upgrader` upgrades it to 12 with `additional`; returns the new room's create
/// content, its levels' `users`, and its id.
async fn upgrade_to_12(
    server: &TestServer,
    version: &str,
    users: impl Fn(&TestUser, &TestUser, &TestUser) -> Value,
    upgrader: usize,
    additional: impl Fn(&TestUser, &TestUser, &TestUser) -> Vec<String>,
) -> (Value, Value, String) {
    let alice = server
        .register(&format!("alice{version}{upgrader}"), "pw-alice-1")
        .await;
    let bob = server.register(&format!("bob{version}{upgrader}"), "pw-bob-1").await;
    let charlie = server
        .register(&format!("charlie{version}{upgrader}"), "pw-charlie-1")
        .await;
    let room = server
        .create_room(&alice, json!({ "preset": "public_chat", "room_version": version }))
        .await;
    for user in [&bob, &charlie] {
        assert_eq!(server.join(user, &room).await.status, 200);
    }
    let levels = server
        .put(
            &format!("/_matrix/client/v3/rooms/{room}/state/m.room.power_levels/"),
            Some(&alice.token),
            json!({ "users": users(&alice, &bob, &charlie) }),
        )
        .await;
    assert_eq!(levels.status, 200, "{}", levels.body);
    let who = [&alice, &bob, &charlie][upgrader];
    let reply = upgrade(
        server,
        who,
        &room,
        json!({ "new_version": "12", "additional_creators": additional(&alice, &bob, &charlie) }),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let new = reply.body["replacement_room"].as_str().expect("replacement").to_owned();
    let create = state(server, who, &new, "m.room.create").await;
    let users = state(server, who, &new, "m.room.power_levels").await["users"].clone();
    (create, users, new)
}

#[tokio::test]
async fn upgrades_to_version_12_follow_the_creator_rules() {
    let server = TestServer::start().await;
    // From 11, Bob (100) upgrades: he becomes the creator and leaves `users`.
    let (create, users, new) = upgrade_to_12(
        &server,
        "11",
        |_, b, c| json!({ b.user_id.clone(): 100, c.user_id.clone(): 100 }),
        1,
        |_, _, _| vec![],
    )
    .await;
    assert!(create.get("additional_creators").is_none(), "{create}");
    assert!(create["predecessor"].get("event_id").is_none(), "{create}");
    // Only Charlie's 100 is left.
    let remaining: Vec<&Value> = users.as_object().expect("users").values().collect();
    assert_eq!(remaining, vec![&json!(100)], "{users}");
    // A version 12 room id has no server part: it is the create event's hash.
    assert!(new.starts_with('!') && !new.contains(':'), "{new}");

    // From 12, Bob (150) upgrades naming Charlie (50) an additional creator: both leave
    // `users`, and Alice, the old creator, is not carried over.
    let (create, users, _) = upgrade_to_12(
        &server,
        "12",
        |_, b, c| json!({ b.user_id.clone(): 150, c.user_id.clone(): 50 }),
        1,
        |_, _, c| vec![c.user_id.clone()],
    )
    .await;
    assert_eq!(
        create["additional_creators"].as_array().map(Vec::len),
        Some(1),
        "{create}"
    );
    assert_eq!(users, json!({}));

    // From 11, Alice upgrades naming Bob: Charlie (50) stays.
    let (_, users, _) = upgrade_to_12(
        &server,
        "11",
        |a, b, c| json!({ a.user_id.clone(): 100, b.user_id.clone(): 100, c.user_id.clone(): 50 }),
        0,
        |_, b, _| vec![b.user_id.clone()],
    )
    .await;
    let remaining: Vec<&Value> = users.as_object().expect("users").values().collect();
    assert_eq!(remaining, vec![&json!(50)], "{users}");
}

#[tokio::test]
async fn the_create_event_id_names_a_version_12_replacement() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let old = server.create_room(&alice, json!({ "room_version": "10" })).await;
    let new = upgrade(&server, &alice, &old, json!({ "new_version": "12" }))
        .await
        .ok()["replacement_room"]
        .as_str()
        .expect("replacement")
        .to_owned();
    let events = server
        .get(&format!("/_matrix/client/v3/rooms/{new}/state"), Some(&alice.token))
        .await
        .ok();
    let create_id = events
        .as_array()
        .expect("state")
        .iter()
        .find(|e| e["type"] == "m.room.create")
        .and_then(|e| e["event_id"].as_str())
        .expect("create event")
        .to_owned();
    assert_eq!(new, format!("!{}", &create_id[1..]));
}

#[tokio::test]
async fn a_room_created_by_hand_as_a_replacement_inherits_room_rules() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let old = server.create_room(&alice, json!({ "preset": "private_chat" })).await;
    put_room_rule(&server, &alice, &old, "dont_notify").await;
    let new = server
        .create_room(
            &alice,
            json!({ "preset": "private_chat", "creation_content": { "predecessor": { "room_id": old } } }),
        )
        .await;
    assert_eq!(room_rule(&server, &alice, &new).await, Some(json!(["dont_notify"])));
}

#[tokio::test]
async fn a_remote_member_finds_their_rules_in_the_new_room_once_they_join() {
    let shared = shared_room("upgraded").await;
    let (a, b) = (&shared.a, &shared.b);
    put_room_rule(b, &shared.bob, &shared.room, "dont_notify").await;
    let reply = upgrade(a, &shared.alice, &shared.room, json!({ "new_version": "11" })).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let new = reply.body["replacement_room"].as_str().expect("replacement").to_owned();
    let server_a = shared.alice.user_id.split_once(':').expect("server").1.to_owned();
    let join = b
        .post(
            &format!(
                "/_matrix/client/v3/join/{}?server_name={}",
                urlencode(&new),
                urlencode(&server_a)
            ),
            Some(&shared.bob.token),
            json!({}),
        )
        .await;
    assert_eq!(join.status, 200, "{}", join.body);
    assert_eq!(room_rule(b, &shared.bob, &new).await, Some(json!(["dont_notify"])));
}
