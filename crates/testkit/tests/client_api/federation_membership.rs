//! Membership across two Accord servers: invites (countersigned by the invitee's server),
//! accepting and rejecting them, leaving, kicks and bans of remote users.

use std::time::Duration;

use accord_testkit::{TestServer, TestUser, ca::TestCa};
use serde_json::{Value, json};

use crate::federation_support::origin;

/// Polls `user`'s `/sync` until `check` accepts it (30 s at most); returns that answer.
pub async fn sync_until(server: &TestServer, user: &TestUser, check: impl Fn(&Value) -> bool) -> Value {
    // Left rooms too, so kicks show.
    let filter = json!({ "room": { "include_leave": true } });
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let sync = server.sync(user, None, 0, Some(filter.clone())).await;
        if check(&sync) {
            return sync;
        }
        assert!(std::time::Instant::now() < deadline, "sync never matched: {sync}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `user_id`'s membership in `room` as `server` sees it, through `viewer`.
pub async fn membership(server: &TestServer, viewer: &TestUser, room: &str, user_id: &str) -> Option<String> {
    let reply = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/state/m.room.member/{user_id}"),
            Some(&viewer.token),
        )
        .await;
    (reply.status == 200).then(|| reply.body["membership"].as_str().unwrap_or_default().to_owned())
}

/// Waits until `server` (through `viewer`) sees `user_id` with `expected` membership.
pub async fn wait_membership(server: &TestServer, viewer: &TestUser, room: &str, user_id: &str, expected: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let seen = membership(server, viewer, room, user_id).await;
        if seen.as_deref() == Some(expected) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{user_id} should be {expected}, is {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn invite(a: &TestServer, alice: &TestUser, room: &str, user_id: &str) {
    a.post(
        &format!("/_matrix/client/v3/rooms/{room}/invite"),
        Some(&alice.token),
        json!({ "user_id": user_id }),
    )
    .await
    .ok();
}

#[tokio::test]
async fn invites_leaves_kicks_and_bans_across_servers() {
    let ca = TestCa::new();
    let a = TestServer::start_federating(&ca, |_| {}).await;
    let b = TestServer::start_federating(&ca, |_| {}).await;
    let alice = a.register("alice", "pw-alice-1").await;
    let bob = b.register("bob", "pw-bob-1").await;
    let bob_id = format!("@bob:{}", origin(&b));
    let room = a
        .create_room(&alice, json!({ "preset": "private_chat", "name": "Invite only" }))
        .await;

    // An invite reaches Bob's sync with the room's stripped state, and he joins through it.
    invite(&a, &alice, &room, &bob_id).await;
    assert_eq!(membership(&a, &alice, &room, &bob_id).await.as_deref(), Some("invite"));
    let sync = sync_until(&b, &bob, |s| s["rooms"]["invite"][&room].is_object()).await;
    let stripped = sync["rooms"]["invite"][&room]["invite_state"]["events"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        stripped
            .iter()
            .any(|e| e["type"] == "m.room.name" && e["content"]["name"] == "Invite only"),
        "{sync}"
    );
    assert!(
        stripped
            .iter()
            .any(|e| e["type"] == "m.room.member" && e["state_key"] == bob_id.as_str()),
        "{sync}"
    );
    b.join(&bob, &room).await.ok();
    wait_membership(&a, &alice, &room, &bob_id, "join").await;
    // Bob's join replaced his invite: `prev_content` says so even though B holds the room's
    // earlier events only as outliers from send_join (TestFederationRoomsInvite).
    let own_join = |s: &Value| -> Option<Value> {
        s["rooms"]["join"][&room]["timeline"]["events"]
            .as_array()?
            .iter()
            .find(|e| {
                e["type"] == "m.room.member"
                    && e["state_key"] == bob_id.as_str()
                    && e["content"]["membership"] == "join"
            })
            .cloned()
    };
    let sync = sync_until(&b, &bob, |s| own_join(s).is_some()).await;
    let join = own_join(&sync).expect("bob's join");
    assert_eq!(join["unsigned"]["prev_content"]["membership"], "invite", "{join}");
    assert_eq!(join["unsigned"]["prev_sender"], alice.user_id.as_str(), "{join}");
    a.send_text(&alice, &room, "welcome bob").await;
    let sync = sync_until(&b, &bob, |s| s.to_string().contains("welcome bob")).await;
    assert!(sync.to_string().contains("welcome bob"), "{sync}");

    // Bob leaves; A sees it.
    b.post(
        &format!("/_matrix/client/v3/rooms/{room}/leave"),
        Some(&bob.token),
        json!({}),
    )
    .await
    .ok();
    wait_membership(&a, &alice, &room, &bob_id, "leave").await;

    // Invited again, Bob rejects: the rejection travels back through make_leave/send_leave
    // (B has no user in the room any more).
    invite(&a, &alice, &room, &bob_id).await;
    sync_until(&b, &bob, |s| s["rooms"]["invite"][&room].is_object()).await;
    b.post(
        &format!("/_matrix/client/v3/rooms/{room}/leave"),
        Some(&bob.token),
        json!({}),
    )
    .await
    .ok();
    wait_membership(&a, &alice, &room, &bob_id, "leave").await;

    // Invited and joined once more, then kicked.
    invite(&a, &alice, &room, &bob_id).await;
    sync_until(&b, &bob, |s| s["rooms"]["invite"][&room].is_object()).await;
    b.join(&bob, &room).await.ok();
    wait_membership(&a, &alice, &room, &bob_id, "join").await;
    a.post(
        &format!("/_matrix/client/v3/rooms/{room}/kick"),
        Some(&alice.token),
        json!({ "user_id": bob_id, "reason": "testing kicks" }),
    )
    .await
    .ok();
    let sync = sync_until(&b, &bob, |s| s["rooms"]["leave"][&room].is_object()).await;
    assert!(
        sync["rooms"]["leave"][&room].is_object(),
        "B learns of the kick: {sync}"
    );

    // Banned, Bob cannot come back, even into a public room.
    a.put(
        &format!("/_matrix/client/v3/rooms/{room}/state/m.room.join_rules/"),
        Some(&alice.token),
        json!({ "join_rule": "public" }),
    )
    .await
    .ok();
    a.post(
        &format!("/_matrix/client/v3/rooms/{room}/ban"),
        Some(&alice.token),
        json!({ "user_id": bob_id }),
    )
    .await
    .ok();
    assert_eq!(membership(&a, &alice, &room, &bob_id).await.as_deref(), Some("ban"));
    let refused = b
        .post(
            &format!("/_matrix/client/v3/join/{room}?server_name={}", origin(&a)),
            Some(&bob.token),
            json!({}),
        )
        .await;
    assert_eq!(refused.status, 403, "{:?}", refused.body);
    assert_eq!(membership(&a, &alice, &room, &bob_id).await.as_deref(), Some("ban"));
    assert_eq!(b.get("/_matrix/client/versions", None).await.status, 200);
}

#[tokio::test]
async fn three_servers_share_a_room_joined_through_each_other() {
    let ca = TestCa::new();
    let a = TestServer::start_federating(&ca, |_| {}).await;
    let b = TestServer::start_federating(&ca, |_| {}).await;
    let c = TestServer::start_federating(&ca, |_| {}).await;
    let alice = a.register("alice", "pw-alice-1").await;
    let bob = b.register("bob", "pw-bob-1").await;
    let carol = c.register("carol", "pw-carol-1").await;
    let room = a
        .create_room(&alice, json!({ "preset": "public_chat", "room_alias_name": "three" }))
        .await;
    b.join(&bob, &format!("#three:{}", origin(&a))).await.ok();
    // Carol joins through B, not through the room's creator.
    c.post(
        &format!("/_matrix/client/v3/join/{room}?server_name={}", origin(&b)),
        Some(&carol.token),
        json!({}),
    )
    .await
    .ok();
    wait_membership(&a, &alice, &room, &format!("@carol:{}", origin(&c)), "join").await;

    let users = [(&a, &alice, "from A"), (&b, &bob, "from B"), (&c, &carol, "from C")];
    for (server, user, body) in users {
        server.send_text(user, &room, body).await;
    }
    let all: Vec<String> = users.iter().map(|(_, _, body)| (*body).to_owned()).collect();
    let mut orders = Vec::new();
    for (server, user, _) in users {
        let seen = crate::federation_support::wait_for_bodies(server, user, &room, &all, Duration::from_secs(30)).await;
        assert!(all.iter().all(|m| seen.contains(m)), "{seen:?}");
        orders.push(seen);
    }
    // Every server holds the same set of events.
    for (server, user, _) in users {
        let ids: std::collections::BTreeSet<String> = server
            .get(
                &format!("/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=100"),
                Some(&user.token),
            )
            .await
            .ok()["chunk"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["type"] == "m.room.message")
            .filter_map(|e| e["event_id"].as_str().map(str::to_owned))
            .collect();
        assert_eq!(ids.len(), 3, "{ids:?}");
    }
}

#[tokio::test]
async fn joins_through_the_resident_server_are_relayed_and_create_room_invites_other_servers() {
    let ca = TestCa::new();
    let a = TestServer::start_federating(&ca, |_| {}).await;
    let mut b = TestServer::start_federating(&ca, |_| {}).await;
    let c = TestServer::start_federating(&ca, |_| {}).await;
    let alice = a.register("alice", "pw-alice-1").await;
    let bob = b.register("bob", "pw-bob-1").await;
    let carol = c.register("carol", "pw-carol-1").await;

    // createRoom's `invite` reaches a user of another server (through their server).
    let room = a
        .create_room(&alice, json!({ "preset": "public_chat", "invite": [bob.user_id] }))
        .await;
    sync_until(&b, &bob, |s| s["rooms"]["invite"].get(&room).is_some()).await;
    b.join(&bob, &room).await.ok();

    // Carol joins through A while B is down: A itself queues her join for B (the resident
    // server relays what came through send_join; her server sending it too is a bonus). She
    // joins and leaves once before, so that C already holds B's signing keys.
    let join_via_a = || async {
        c.post(
            &format!("/_matrix/client/v3/join/{room}?server_name={}", origin(&a)),
            Some(&carol.token),
            json!({}),
        )
        .await
        .ok();
    };
    let carol_id = format!("@carol:{}", origin(&c));
    join_via_a().await;
    wait_membership(&b, &bob, &room, &carol_id, "join").await;
    c.post(
        &format!("/_matrix/client/v3/rooms/{room}/leave"),
        Some(&carol.token),
        json!({}),
    )
    .await
    .ok();
    wait_membership(&a, &alice, &room, &carol_id, "leave").await;
    b.stop().await;
    join_via_a().await;
    let state = a
        .get(&format!("/_matrix/client/v3/rooms/{room}/state"), Some(&alice.token))
        .await
        .ok();
    let join_id = state
        .as_array()
        .expect("state")
        .iter()
        .find(|e| e["type"] == "m.room.member" && e["state_key"] == carol_id.as_str())
        .and_then(|e| e["event_id"].as_str())
        .expect("Carol's join on A")
        .to_owned();
    let queued = a.running().services.db().queued_for(&origin(&b), 100).expect("queue");
    assert!(
        queued.iter().any(|(_, id)| id.as_str() == join_id),
        "A did not queue Carol's join for B: {queued:?}"
    );
    b.restart().await;
    wait_membership(&b, &bob, &room, &carol_id, "join").await;
}

/// The user's leave member event in `room`'s `leave` section of `sync`, if there.
fn own_leave(sync: &Value, room: &str, user_id: &str) -> Option<Value> {
    sync["rooms"]["leave"][room]["timeline"]["events"]
        .as_array()?
        .iter()
        .find(|e| e["type"] == "m.room.member" && e["state_key"] == user_id && e["content"]["membership"] == "leave")
        .cloned()
}

/// TestFederationRoomsInvite ("reject invite", "reject for empty room"): rejecting an invite to
/// a room this server is not in shows the rejection in the room's `leave` section, as for any
/// room, both to an incremental sync and to an initial one asking for left rooms; when the
/// inviting server can't be reached, a leave made up here stands for it.
#[tokio::test]
async fn a_rejected_remote_invite_shows_its_leave_in_sync() {
    let ca = TestCa::new();
    let mut a = TestServer::start_federating(&ca, |_| {}).await;
    let b = TestServer::start_federating(&ca, |_| {}).await;
    let alice = a.register("alice", "pw-alice-1").await;
    let bob = b.register("bob", "pw-bob-1").await;
    let include_leave = json!({ "room": { "include_leave": true } });
    let room = a
        .create_room(&alice, json!({ "preset": "private_chat", "invite": [bob.user_id] }))
        .await;
    let invited = sync_until(&b, &bob, |s| s["rooms"]["invite"][&room].is_object()).await;
    let since = invited["next_batch"].as_str().expect("next_batch").to_owned();
    let left = b
        .post(
            &format!("/_matrix/client/v3/rooms/{room}/leave"),
            Some(&bob.token),
            json!({}),
        )
        .await;
    assert_eq!(left.status, 200, "{:?}", left.body);
    wait_membership(&a, &alice, &room, &bob.user_id, "leave").await;
    let sync = b.sync(&bob, Some(&since), 0, Some(include_leave.clone())).await;
    let leave = own_leave(&sync, &room, &bob.user_id).expect("bob's leave in the incremental sync");
    // It is the event A accepted.
    let on_a = a
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/state/m.room.member/{}", bob.user_id),
            Some(&alice.token),
        )
        .await;
    assert_eq!(on_a.status, 200);
    let state = a
        .get(&format!("/_matrix/client/v3/rooms/{room}/state"), Some(&alice.token))
        .await
        .ok();
    let accepted = state
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["type"] == "m.room.member" && e["state_key"] == bob.user_id.as_str())
        .expect("bob's member event on A");
    assert_eq!(leave["event_id"], accepted["event_id"], "{leave}");
    assert!(sync["rooms"]["invite"].get(&room).is_none(), "{sync}");
    let initial = b.sync(&bob, None, 0, Some(include_leave.clone())).await;
    assert!(own_leave(&initial, &room, &bob.user_id).is_some(), "{initial}");

    // A is gone: the invite is still dropped, with a leave of B's own making.
    let second = a
        .create_room(&alice, json!({ "preset": "private_chat", "invite": [bob.user_id] }))
        .await;
    let invited = sync_until(&b, &bob, |s| s["rooms"]["invite"][&second].is_object()).await;
    let since = invited["next_batch"].as_str().expect("next_batch").to_owned();
    a.stop().await;
    let left = b
        .post(
            &format!("/_matrix/client/v3/rooms/{second}/leave"),
            Some(&bob.token),
            json!({}),
        )
        .await;
    assert_eq!(left.status, 200, "{:?}", left.body);
    let sync = b.sync(&bob, Some(&since), 0, Some(include_leave)).await;
    let leave = own_leave(&sync, &second, &bob.user_id).expect("a leave made up on B");
    assert!(
        leave["event_id"].as_str().is_some_and(|id| id.starts_with('$')),
        "{leave}"
    );
}
