//! `/sync` as Element and Complement expect it (issue 12): lazy-loaded members in incremental
//! syncs, newly joined rooms, presence of new room-mates, left rooms, invites.

use accord_testkit::{TestServer, TestUser};
use serde_json::{Value, json};

fn token(sync: &Value) -> String {
    sync["next_batch"].as_str().expect("next_batch").to_owned()
}

fn events<'a>(section: &'a Value, part: &str) -> Vec<&'a Value> {
    section[part]["events"]
        .as_array()
        .map(|events| events.iter().collect())
        .unwrap_or_default()
}

fn members_of<'a>(events: &[&'a Value], user: &TestUser) -> Vec<&'a Value> {
    events
        .iter()
        .copied()
        .filter(|e| e["type"] == "m.room.member" && e["state_key"] == user.user_id.as_str())
        .collect()
}

/// Element's lazy-loading filter: a member who has not spoken yet sends a message; the next
/// incremental sync of each of the reader's two devices carries their member event once, and
/// later syncs don't repeat it unless redundant members are asked for.
#[tokio::test]
async fn lazy_loaded_members_reach_each_device_once() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    let laptop = alice.clone();
    let phone_login = server.login("alice", "pw-alice-1").await.ok();
    let phone = TestUser {
        token: phone_login["access_token"].as_str().expect("token").to_owned(),
        device_id: phone_login["device_id"].as_str().expect("device").to_owned(),
        ..alice.clone()
    };
    // A named room: no heroes, so Bob's member event is not sent for the room's name.
    let room = server
        .create_room(&alice, json!({ "preset": "public_chat", "name": "Lazy" }))
        .await;
    server.join(&bob, &room).await.ok();
    for i in 0..12 {
        server.send_text(&alice, &room, &format!("alice {i}")).await;
    }
    let filter = json!({ "room": { "state": { "lazy_load_members": true }, "timeline": { "limit": 10 } } });
    let mut tokens = Vec::new();
    for device in [&laptop, &phone] {
        let initial = server.sync(device, None, 0, Some(filter.clone())).await;
        let section = &initial["rooms"]["join"][&room];
        assert!(
            members_of(&events(section, "state"), &bob).is_empty(),
            "Bob hasn't spoken: {section}"
        );
        assert_eq!(members_of(&events(section, "state"), &alice).len(), 1, "{section}");
        tokens.push(token(&initial));
    }

    server.send_text(&bob, &room, "hello from bob").await;
    for (device, since) in [&laptop, &phone].into_iter().zip(&mut tokens) {
        let next = server.sync(device, Some(since), 0, Some(filter.clone())).await;
        let section = &next["rooms"]["join"][&room];
        assert!(
            events(section, "timeline")
                .iter()
                .any(|e| e["content"]["body"] == "hello from bob"),
            "{section}"
        );
        let state = events(section, "state");
        assert_eq!(members_of(&state, &bob).len(), 1, "Bob's member event, once: {section}");
        assert!(members_of(&state, &alice).is_empty(), "nothing redundant: {section}");
        *since = token(&next);
    }

    // Bob speaks again: the laptop already has his member event.
    server.send_text(&bob, &room, "bob again").await;
    let again = server.sync(&laptop, Some(&tokens[0]), 0, Some(filter.clone())).await;
    let section = &again["rooms"]["join"][&room];
    assert!(members_of(&events(section, "state"), &bob).is_empty(), "{section}");
    // Unless the filter asks for redundant members.
    let redundant = json!({ "room": { "state": { "lazy_load_members": true, "include_redundant_members": true } } });
    let with = server.sync(&phone, Some(&tokens[1]), 0, Some(redundant)).await;
    let section = &with["rooms"]["join"][&room];
    assert_eq!(members_of(&events(section, "state"), &bob).len(), 1, "{section}");
}

/// A response lost on the way: syncing again from the same token carries the member event
/// again (it only counts as delivered once the client synced past it).
#[tokio::test]
async fn a_lost_sync_response_is_answered_again_in_full() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    let room = server
        .create_room(&alice, json!({ "preset": "public_chat", "name": "Lossy" }))
        .await;
    server.join(&bob, &room).await.ok();
    let filter = json!({ "room": { "state": { "lazy_load_members": true }, "timeline": { "limit": 1 } } });
    server.send_text(&alice, &room, "one").await;
    let since = token(&server.sync(&alice, None, 0, Some(filter.clone())).await);
    server.send_text(&bob, &room, "hi").await;
    for _ in 0..2 {
        let next = server.sync(&alice, Some(&since), 0, Some(filter.clone())).await;
        let section = &next["rooms"]["join"][&room];
        assert_eq!(members_of(&events(section, "state"), &bob).len(), 1, "{section}");
    }
}

/// TestSync "Newly joined room has correct timeline in incremental sync": a room joined since
/// the last sync comes with its history and `limited`; the members already there come with
/// their presence (TestSync, TestMembersLocal).
#[tokio::test]
async fn a_newly_joined_room_comes_with_history_and_presence() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    let room = server.create_room(&alice, json!({ "preset": "public_chat" })).await;
    for i in 0..4 {
        server.send_text(&alice, &room, &format!("before {i}")).await;
    }
    let bob_since = token(&server.sync(&bob, None, 0, None).await);
    let alice_since = token(&server.sync(&alice, None, 0, None).await);
    server.join(&bob, &room).await.ok();

    let filter =
        json!({ "room": { "timeline": { "limit": 10, "types": ["m.room.message"] }, "state": { "types": [] } } });
    let sync = server.sync(&bob, Some(&bob_since), 0, Some(filter)).await;
    let timeline = &sync["rooms"]["join"][&room]["timeline"];
    let bodies: Vec<&str> = timeline["events"]
        .as_array()
        .expect("timeline")
        .iter()
        .filter_map(|e| e["content"]["body"].as_str())
        .collect();
    assert_eq!(bodies, ["before 0", "before 1", "before 2", "before 3"], "{sync}");
    assert_eq!(timeline["limited"], true, "{sync}");
    let presence = events(&sync, "presence");
    assert_eq!(
        presence
            .iter()
            .filter(|e| e["sender"] == alice.user_id.as_str())
            .count(),
        1,
        "{sync}"
    );

    // Alice, already there, gets Bob's presence with his join.
    let sync = server.sync(&alice, Some(&alice_since), 0, None).await;
    let presence = events(&sync, "presence");
    let bobs: Vec<_> = presence
        .iter()
        .filter(|e| e["sender"] == bob.user_id.as_str())
        .collect();
    assert_eq!(bobs.len(), 1, "{sync}");
    assert!(bobs[0]["content"]["presence"].is_string());
}

/// TestLeaveEventVisibility, TestArchivedRoomsHistory: a user sees their own leave even when
/// history is visible to joined members only, and a left room's timeline follows the filter
/// and stops at the leave.
#[tokio::test]
async fn left_rooms_show_the_leave_and_follow_the_filter() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    let room = server
        .create_room(
            &alice,
            json!({ "preset": "public_chat", "initial_state": [
            { "type": "m.room.history_visibility", "state_key": "", "content": { "history_visibility": "joined" } }
        ] }),
        )
        .await;
    server.join(&bob, &room).await.ok();
    let include_leave = json!({ "room": { "include_leave": true } });
    let bob_since = token(&server.sync(&bob, None, 0, Some(include_leave.clone())).await);
    server.send_text(&alice, &room, "before").await;
    server
        .put(
            &format!("/_matrix/client/v3/rooms/{room}/state/a.madeup.test.state"),
            Some(&alice.token),
            json!({ "my_key": "before" }),
        )
        .await
        .ok();
    server
        .post(
            &format!("/_matrix/client/v3/rooms/{room}/leave"),
            Some(&bob.token),
            json!({}),
        )
        .await
        .ok();
    server.send_text(&alice, &room, "after").await;

    let sync = server.sync(&bob, Some(&bob_since), 0, Some(include_leave)).await;
    let left = &sync["rooms"]["leave"][&room];
    let timeline = events(left, "timeline");
    assert_eq!(members_of(&timeline, &bob).len(), 1, "Bob sees his own leave: {sync}");
    assert!(timeline.iter().all(|e| e["content"]["body"] != "after"), "{sync}");

    let filtered = json!({ "room": {
        "include_leave": true,
        "timeline": { "types": ["m.room.message", "a.madeup.test.state"] },
        "state": { "types": ["a.madeup.test.state"] },
    } });
    let sync = server.sync(&bob, Some(&bob_since), 0, Some(filtered)).await;
    let timeline = events(&sync["rooms"]["leave"][&room], "timeline");
    assert_eq!(timeline.len(), 2, "{sync}");
    assert_eq!(timeline[0]["content"]["body"], "before");
    assert_eq!(timeline[1]["type"], "a.madeup.test.state");
}

/// TestInviteFromIgnoredUsersDoesNotAppearInSync, and the inviter's member event in an
/// invite's stripped state (Element shows "X invited you" from it).
#[tokio::test]
async fn invites_from_ignored_users_are_hidden_and_others_name_the_inviter() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    let chris = server.register("chris", "pw-chris-1").await;
    server
        .put(
            &format!(
                "/_matrix/client/v3/user/{}/account_data/m.ignored_user_list",
                alice.user_id
            ),
            Some(&alice.token),
            json!({ "ignored_users": { bob.user_id.clone(): {} } }),
        )
        .await
        .ok();
    let since = token(&server.sync(&alice, None, 0, None).await);
    let bobs = server
        .create_room(&bob, json!({ "preset": "private_chat", "invite": [alice.user_id] }))
        .await;
    let chriss = server
        .create_room(&chris, json!({ "preset": "private_chat", "invite": [alice.user_id] }))
        .await;
    let sync = server.sync(&alice, Some(&since), 0, None).await;
    let invites = &sync["rooms"]["invite"];
    assert!(invites.get(&bobs).is_none(), "{sync}");
    let stripped = events(&invites[&chriss], "invite_state");
    assert_eq!(
        members_of(&stripped, &chris).len(),
        1,
        "the inviter's member event: {sync}"
    );
    assert_eq!(members_of(&stripped, &alice).len(), 1, "{sync}");
}

/// msc4222 TestSync: with `use_state_after` (stable or, as matrix-js-sdk sends it, unstable),
/// the room's state comes as `state_after` under the same name, up to the timeline's end:
/// with lazy loading, the member event of every timeline sender, even one the timeline holds.
#[tokio::test]
async fn state_after_is_answered_under_the_name_asked_for() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    let room = server.create_room(&alice, json!({ "preset": "public_chat" })).await;
    server.join(&bob, &room).await.ok();
    server.send_text(&bob, &room, "hi").await;
    let filter = json!({ "room": { "timeline": { "limit": 20 }, "state": { "lazy_load_members": true } } });
    let filter = accord_testkit::urlencode(&filter.to_string());
    for (param, key) in [
        ("use_state_after", "state_after"),
        ("org.matrix.msc4222.use_state_after", "org.matrix.msc4222.state_after"),
    ] {
        let sync = server
            .get(
                &format!("/_matrix/client/v3/sync?filter={filter}&{param}=true"),
                Some(&alice.token),
            )
            .await
            .ok();
        let section = &sync["rooms"]["join"][&room];
        assert!(section.get("state").is_none(), "{section}");
        let state = events(section, key);
        assert!(section[key]["events"].is_array(), "{section}");
        let timeline = events(section, "timeline");
        let senders: std::collections::BTreeSet<&str> = timeline.iter().filter_map(|e| e["sender"].as_str()).collect();
        assert!(senders.contains(bob.user_id.as_str()) && senders.contains(alice.user_id.as_str()));
        for sender in senders {
            assert!(
                state
                    .iter()
                    .any(|e| e["type"] == "m.room.member" && e["state_key"] == sender),
                "{sender}'s member event in {key}: {section}"
            );
        }
        assert!(state.iter().any(|e| e["type"] == "m.room.create"), "{section}");
    }
}

/// TestDeviceListsUpdateOverFederation: after joining a room, the joiner's sync lists every
/// member's devices as changed, their own included.
#[tokio::test]
async fn a_joiner_sees_every_members_devices_changed_its_own_included() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    let room = server.create_room(&alice, json!({ "preset": "public_chat" })).await;
    let since = token(&server.sync(&bob, None, 0, None).await);
    server.join(&bob, &room).await.ok();
    let sync = server.sync(&bob, Some(&since), 0, None).await;
    let mut changed: Vec<&str> = sync["device_lists"]["changed"]
        .as_array()
        .expect("changed")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    changed.sort_unstable();
    let mut expected = [alice.user_id.as_str(), bob.user_id.as_str()];
    expected.sort_unstable();
    assert_eq!(changed, expected, "{sync}");
}

/// TestMembersLocal ("presence in initial sync"): a room-mate who never synced is listed as
/// `offline` in an initial sync when `presence.include_offline_users_on_sync` is on, and left
/// out by default (Synapse 1.163 with its default config leaves them out too; checked against
/// a real one).
#[tokio::test]
async fn room_mates_who_never_synced_are_listed_offline_when_configured() {
    for include in [false, true] {
        let server = TestServer::start_with(|config| config.presence.include_offline_users_on_sync = include).await;
        let alice = server.register("alice", "pw-alice-1").await;
        let bob = server.register("bob", "pw-bob-1").await;
        let room = server.create_room(&alice, json!({ "preset": "public_chat" })).await;
        server.join(&bob, &room).await.ok();
        let sync = server.sync(&alice, None, 0, None).await;
        let bobs: Vec<Value> = sync["presence"]["events"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["sender"] == bob.user_id.as_str())
            .cloned()
            .collect();
        if include {
            assert_eq!(bobs.len(), 1, "{sync}");
            assert_eq!(bobs[0]["content"]["presence"], "offline", "{sync}");
        } else {
            assert!(bobs.is_empty(), "{sync}");
        }
    }
}
