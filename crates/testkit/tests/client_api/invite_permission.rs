//! Who may invite a user: the stable `m.invite_permission_config` (block every invite) and
//! MSC4155's allow/ignore/block lists of users and servers (Complement's TestInviteFiltering),
//! applied to local invites, member state events and invites over federation, and to /sync.

use accord_testkit::{TestServer, TestUser, ca::TestCa};
use serde_json::{Value, json};

use crate::federation_membership::sync_until;
use crate::federation_support::origin;

const MSC4155: &str = "org.matrix.msc4155.invite_permission_config";

async fn set_config(server: &TestServer, user: &TestUser, kind: &str, config: Value) {
    server
        .put(
            &format!("/_matrix/client/v3/user/{}/account_data/{kind}", user.user_id),
            Some(&user.token),
            config,
        )
        .await
        .ok();
}

async fn invite(server: &TestServer, inviter: &TestUser, room: &str, invitee: &TestUser) -> accord_testkit::Reply {
    server
        .post(
            &format!("/_matrix/client/v3/rooms/{room}/invite"),
            Some(&inviter.token),
            json!({ "user_id": invitee.user_id }),
        )
        .await
}

/// The invitee's membership as the room's server holds it.
async fn membership(server: &TestServer, viewer: &TestUser, room: &str, user: &TestUser) -> Option<String> {
    crate::federation_membership::membership(server, viewer, room, &user.user_id).await
}

#[tokio::test]
async fn invites_follow_the_invitees_permission_settings() {
    let ca = TestCa::new();
    let a = TestServer::start_federating(&ca, |_| {}).await;
    let b = TestServer::start_federating(&ca, |_| {}).await;
    let alice = a.register("alice", "pw-alice-1").await;
    let evil_alice = a.register("evil_alice", "pw-evil-1").await;
    let bob = b.register("bob", "pw-bob-1").await;
    let evil_bob = b.register("evil_bob", "pw-evil-2").await;
    let versions = a.get("/_matrix/client/versions", None).await.ok();
    assert_eq!(versions["unstable_features"]["org.matrix.msc4155"], true);

    // Blocked users: refused with 403 whether the inviter is local or remote.
    set_config(&a, &alice, MSC4155, json!({ "blocked_users": ["@evil_*"] })).await;
    let local_room = a.create_room(&evil_alice, json!({ "preset": "private_chat" })).await;
    invite(&a, &evil_alice, &local_room, &alice)
        .await
        .assert_error(403, "M_INVITE_BLOCKED");
    let remote_room = b.create_room(&evil_bob, json!({ "preset": "private_chat" })).await;
    let refused = invite(&b, &evil_bob, &remote_room, &alice).await;
    refused.assert_error(403, "M_INVITE_BLOCKED");
    assert_eq!(membership(&b, &evil_bob, &remote_room, &alice).await, None);
    // A member state event is an invite too.
    let by_state = a
        .put(
            &format!(
                "/_matrix/client/v3/rooms/{local_room}/state/m.room.member/{}",
                alice.user_id
            ),
            Some(&evil_alice.token),
            json!({ "membership": "invite" }),
        )
        .await;
    by_state.assert_error(403, "M_INVITE_BLOCKED");
    // createRoom still creates the room; only the blocked invite is left out.
    let created = a
        .post(
            "/_matrix/client/v3/createRoom",
            Some(&evil_alice.token),
            json!({ "preset": "private_chat", "invite": [alice.user_id] }),
        )
        .await;
    assert_eq!(created.status, 200, "{:?}", created.body);
    let sync = a.sync(&alice, None, 0, None).await;
    assert!(
        sync["rooms"].get("invite").is_none(),
        "no invite section at all: {sync}"
    );

    // Ignored users: the invite is made, but alice never sees it.
    set_config(&a, &alice, MSC4155, json!({ "ignored_users": [bob.user_id] })).await;
    let ignored_room = b.create_room(&bob, json!({ "preset": "private_chat" })).await;
    let made = invite(&b, &bob, &ignored_room, &alice).await;
    assert_eq!(made.status, 200, "{:?}", made.body);
    assert_eq!(
        membership(&b, &bob, &ignored_room, &alice).await.as_deref(),
        Some("invite")
    );
    let sync = a.sync(&alice, None, 0, None).await;
    assert!(sync["rooms"].get("invite").is_none(), "{sync}");

    // An allowed user beats a blocked server; the server's other users stay blocked.
    set_config(
        &a,
        &alice,
        MSC4155,
        json!({ "allowed_users": [bob.user_id], "blocked_servers": [origin(&b)] }),
    )
    .await;
    let evil_room = b.create_room(&evil_bob, json!({ "preset": "private_chat" })).await;
    assert_eq!(invite(&b, &evil_bob, &evil_room, &alice).await.status, 403);
    let good_room = b.create_room(&bob, json!({ "preset": "private_chat" })).await;
    assert_eq!(invite(&b, &bob, &good_room, &alice).await.status, 200);
    sync_until(&a, &alice, |s| s["rooms"]["invite"][&good_room].is_object()).await;
    let joined = a
        .post(
            &format!("/_matrix/client/v3/join/{good_room}?via={}", origin(&b)),
            Some(&alice.token),
            json!({}),
        )
        .await;
    assert_eq!(joined.status, 200, "{:?}", joined.body);
    // The earlier ignored invite is shown now that bob is allowed (the spec lets a server show
    // suppressed invites again).
    let sync = a.sync(&alice, None, 0, None).await;
    assert!(sync["rooms"]["invite"][&ignored_room].is_object(), "{sync}");

    // Null fields are no rules.
    set_config(
        &a,
        &alice,
        MSC4155,
        json!({ "allowed_users": null, "ignored_users": null, "blocked_users": null,
                "allowed_servers": null, "ignored_servers": null, "blocked_servers": null }),
    )
    .await;
    let open_room = b.create_room(&evil_bob, json!({ "preset": "private_chat" })).await;
    assert_eq!(invite(&b, &evil_bob, &open_room, &alice).await.status, 200);

    // The stable setting blocks everyone, and hides invites already made.
    set_config(
        &a,
        &alice,
        "m.invite_permission_config",
        json!({ "default_action": "block" }),
    )
    .await;
    let room = a.create_room(&evil_alice, json!({ "preset": "private_chat" })).await;
    invite(&a, &evil_alice, &room, &alice)
        .await
        .assert_error(403, "M_INVITE_BLOCKED");
    let sync = a.sync(&alice, None, 0, None).await;
    assert!(sync["rooms"].get("invite").is_none(), "{sync}");
    // Without `default_action`, invites are welcome again.
    set_config(&a, &alice, "m.invite_permission_config", json!({})).await;
    assert_eq!(invite(&a, &evil_alice, &room, &alice).await.status, 200);
}
