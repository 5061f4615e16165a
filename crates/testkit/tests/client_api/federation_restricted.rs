//! Restricted rooms across servers, as Complement's TestRestrictedRooms* and
//! TestKnockingInMSC3787Room try them: which server may vouch for a join, what a refusal says,
//! and a join this server can't authorise itself.

use accord_testkit::{TestServer, TestUser, ca::TestCa, urlencode};
use serde_json::{Value, json};

use crate::federation_membership::{invite, wait_membership};
use crate::federation_support::origin;

/// A restricted room on `server`, admitting members of `allowed` (none when `allow` is given
/// as something else), with `power_levels` overriding the preset's.
async fn restricted_room(server: &TestServer, creator: &TestUser, allow: Value, power_levels: Value) -> String {
    server
        .create_room(
            creator,
            json!({
                "preset": "public_chat",
                "power_level_content_override": power_levels,
                "initial_state": [{
                    "type": "m.room.join_rules",
                    "state_key": "",
                    "content": { "join_rule": "restricted", "allow": allow },
                }],
            }),
        )
        .await
}

fn allow(room: &str, via: &TestServer) -> Value {
    json!([{ "type": "m.room_membership", "room_id": room, "via": [origin(via)] }])
}

async fn join_via(server: &TestServer, user: &TestUser, room: &str, via: &[&TestServer]) -> accord_testkit::Reply {
    let servers: Vec<String> = via.iter().map(|s| format!("via={}", origin(s))).collect();
    server
        .post(
            &format!("/_matrix/client/v3/join/{}?{}", urlencode(room), servers.join("&")),
            Some(&user.token),
            json!({}),
        )
        .await
}

async fn set_join_rules(server: &TestServer, user: &TestUser, room: &str, content: Value) {
    server
        .put(
            &format!("/_matrix/client/v3/rooms/{room}/state/m.room.join_rules/"),
            Some(&user.token),
            content,
        )
        .await
        .ok();
}

/// A join rule naming no room to be a member of lets no one in without an invite, and says so
/// with 403, on this server and through another one (Synapse answers 403 as well; before, a
/// remote joiner got the resident's 400 turned into 404).
#[tokio::test]
async fn a_restricted_room_that_names_no_allowed_room_refuses_joins_with_403() {
    let ca = TestCa::new();
    let a = TestServer::start_federating(&ca, |_| {}).await;
    let b = TestServer::start_federating(&ca, |_| {}).await;
    let alice = a.register("alice", "pw-alice-1").await;
    let local = a.register("lou", "pw-lou-1").await;
    let bob = b.register("bob", "pw-bob-1").await;
    let room = restricted_room(&a, &alice, json!([]), json!({})).await;
    for content in [
        json!({ "join_rule": "knock_restricted" }),
        json!({ "join_rule": "restricted", "allow": ["invalid"] }),
        json!({ "join_rule": "restricted", "allow": "invalid" }),
    ] {
        set_join_rules(&a, &alice, &room, content.clone()).await;
        join_via(&a, &local, &room, &[&a])
            .await
            .assert_error(403, "M_FORBIDDEN");
        let remote = join_via(&b, &bob, &room, &[&a]).await;
        assert_eq!(remote.status, 403, "{content}: {:?}", remote.body);
    }
    // Knocking is what knock_restricted is for.
    set_join_rules(&a, &alice, &room, json!({ "join_rule": "knock_restricted" })).await;
    let knock = b
        .post(
            &format!("/_matrix/client/v3/knock/{}?via={}", urlencode(&room), origin(&a)),
            Some(&bob.token),
            json!({ "reason": "Let me in" }),
        )
        .await;
    assert_eq!(knock.status, 200, "{:?}", knock.body);
    wait_membership(&a, &alice, &room, &bob.user_id, "knock").await;
}

/// TestRestrictedRoomsRemoteJoinFailOver: a server that has left the allowed room still holds
/// who was in it then, but may no longer vouch for anyone by it; the joiner fails over to a
/// server that can.
#[tokio::test]
async fn a_server_that_left_the_allowed_room_no_longer_vouches_for_joins() {
    let ca = TestCa::new();
    let a = TestServer::start_federating(&ca, |_| {}).await;
    let b = TestServer::start_federating(&ca, |_| {}).await;
    let c = TestServer::start_federating(&ca, |_| {}).await;
    let alice = a.register("alice", "pw-alice-1").await;
    let bob = b.register("bob", "pw-bob-1").await;
    let charlie = c.register("charlie", "pw-charlie-1").await;
    let allowed = a.create_room(&alice, json!({ "preset": "public_chat" })).await;
    let room = restricted_room(
        &a,
        &alice,
        allow(&allowed, &a),
        json!({ "invite": 100, "users": { alice.user_id.clone(): 100, bob.user_id.clone(): 100 } }),
    )
    .await;
    join_via(&b, &bob, &allowed, &[&a]).await.ok();
    join_via(&b, &bob, &room, &[&a]).await.ok();
    join_via(&c, &charlie, &allowed, &[&a]).await.ok();
    wait_membership(&b, &bob, &allowed, &charlie.user_id, "join").await;

    // Bob leaves the allowed room: B's record still says Charlie is in it, but B is no longer
    // there to know, so it must not vouch.
    b.post(
        &format!("/_matrix/client/v3/rooms/{allowed}/leave"),
        Some(&bob.token),
        json!({}),
    )
    .await
    .ok();
    wait_membership(&a, &alice, &allowed, &bob.user_id, "leave").await;
    let refused = join_via(&c, &charlie, &room, &[&b]).await;
    assert!(refused.status >= 400, "B vouched after leaving: {:?}", refused.body);
    wait_membership(&a, &alice, &room, &bob.user_id, "join").await;
    assert_ne!(
        crate::federation_membership::membership(&a, &alice, &room, &charlie.user_id)
            .await
            .as_deref(),
        Some("join")
    );

    // Through B, then A: A vouches.
    join_via(&c, &charlie, &room, &[&b, &a]).await.ok();
    let member = a
        .get(
            &format!(
                "/_matrix/client/v3/rooms/{room}/state/m.room.member/{}",
                charlie.user_id
            ),
            Some(&alice.token),
        )
        .await
        .ok();
    assert_eq!(member["membership"], "join");
    assert_eq!(member["join_authorised_via_users_server"], json!(alice.user_id));
}

/// TestRestrictedRoomsRemoteJoinLocalUser: this server is in the room, but none of its members
/// may invite, so it cannot vouch for its own user; the join goes through a server that can,
/// and the countersigned join is taken in here like any event from that server.
#[tokio::test]
async fn a_local_join_no_local_member_can_vouch_for_goes_through_another_server() {
    let ca = TestCa::new();
    let a = TestServer::start_federating(&ca, |_| {}).await;
    let b = TestServer::start_federating(&ca, |_| {}).await;
    let alice = a.register("alice", "pw-alice-1").await;
    let bob = a.register("bob", "pw-bob-1").await;
    let charlie = b.register("charlie", "pw-charlie-1").await;
    let allowed = b.create_room(&charlie, json!({ "preset": "public_chat" })).await;
    let room = restricted_room(
        &b,
        &charlie,
        allow(&allowed, &b),
        json!({ "invite": 100, "users": { charlie.user_id.clone(): 100 } }),
    )
    .await;
    invite(&b, &charlie, &room, &alice.user_id).await;
    crate::federation_membership::sync_until(&a, &alice, |s| s["rooms"]["invite"][&room].is_object()).await;
    join_via(&a, &alice, &room, &[&b]).await.ok();
    wait_membership(&b, &charlie, &room, &alice.user_id, "join").await;

    // Alice may not invite, so A can't vouch for Bob.
    let invited = a
        .post(
            &format!("/_matrix/client/v3/rooms/{room}/invite"),
            Some(&alice.token),
            json!({ "user_id": bob.user_id }),
        )
        .await;
    invited.assert_error(403, "M_FORBIDDEN");
    // Not in the allowed room yet: refused.
    let refused = join_via(&a, &bob, &room, &[&a]).await;
    assert!(refused.status >= 400, "{:?}", refused.body);

    join_via(&a, &bob, &allowed, &[&b]).await.ok();
    wait_membership(&b, &charlie, &allowed, &bob.user_id, "join").await;
    let joined = join_via(&a, &bob, &room, &[&a]).await;
    assert_eq!(joined.status, 200, "{:?}", joined.body);
    let member = b
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/state/m.room.member/{}", bob.user_id),
            Some(&charlie.token),
        )
        .await
        .ok();
    assert_eq!(member["membership"], "join");
    assert_eq!(member["join_authorised_via_users_server"], json!(charlie.user_id));
    assert_eq!(
        crate::federation_membership::membership(&a, &alice, &room, &bob.user_id)
            .await
            .as_deref(),
        Some("join")
    );
    // Bob's messages flow from A.
    a.send_text(&bob, &room, "bob made it in").await;
    let seen = crate::federation_support::wait_for_bodies(
        &b,
        &charlie,
        &room,
        &["bob made it in".to_owned()],
        std::time::Duration::from_secs(30),
    )
    .await;
    assert!(seen.contains(&"bob made it in".to_owned()), "{seen:?}");
}
