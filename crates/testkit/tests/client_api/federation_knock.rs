//! Knocking on, and restricted joins into, a room on another server: `make_knock` /
//! `send_knock`, and `make_join` / `send_join` with `join_authorised_via_users_server`
//! countersigned by the resident server.

use accord_testkit::{TestServer, ca::TestCa};
use serde_json::json;

use crate::{
    federation_membership::{invite, membership, sync_until, wait_membership},
    federation_support::origin,
};

#[tokio::test]
async fn a_remote_user_knocks_withdraws_knocks_again_and_joins_when_invited() {
    let ca = TestCa::new();
    let a = TestServer::start_federating(&ca, |_| {}).await;
    let b = TestServer::start_federating(&ca, |_| {}).await;
    let alice = a.register("alice", "pw-alice-1").await;
    let bob = b.register("bob", "pw-bob-1").await;
    let room = a
        .create_room(
            &alice,
            json!({
                "preset": "private_chat",
                "name": "Knock first",
                "room_alias_name": "knockable",
                "initial_state": [{ "type": "m.room.join_rules", "state_key": "", "content": { "join_rule": "knock" } }],
            }),
        )
        .await;
    let alias = format!("#knockable:{}", origin(&a));
    let knock_path = format!("/_matrix/client/v3/knock/{}", accord_testkit::urlencode(&alias));

    // A plain join is refused; a knock goes through A and shows on both sides.
    let refused = b.join(&bob, &alias).await;
    refused.assert_error(403, "M_FORBIDDEN");
    let knocked = b
        .post(&knock_path, Some(&bob.token), json!({ "reason": "let me in" }))
        .await
        .ok();
    assert_eq!(knocked["room_id"], json!(room));
    assert_eq!(
        membership(&a, &alice, &room, &bob.user_id).await.as_deref(),
        Some("knock")
    );
    let sync = sync_until(&b, &bob, |s| s["rooms"]["knock"][&room].is_object()).await;
    let stripped = sync["rooms"]["knock"][&room]["knock_state"]["events"]
        .as_array()
        .expect("knock_state events")
        .clone();
    assert!(
        stripped
            .iter()
            .any(|e| e["type"] == "m.room.join_rules" && e["content"]["join_rule"] == "knock"),
        "{stripped:?}"
    );
    assert!(
        stripped.iter().any(|e| e["type"] == "m.room.member"
            && e["state_key"] == json!(bob.user_id)
            && e["content"]["membership"] == "knock"),
        "{stripped:?}"
    );

    // Withdrawing goes through A as a leave.
    b.post(
        &format!("/_matrix/client/v3/rooms/{room}/leave"),
        Some(&bob.token),
        json!({}),
    )
    .await
    .ok();
    assert_eq!(
        membership(&a, &alice, &room, &bob.user_id).await.as_deref(),
        Some("leave")
    );
    sync_until(&b, &bob, |s| s["rooms"]["leave"][&room].is_object()).await;

    // Knock again; Alice lets Bob in with an invite, and Bob joins.
    b.post(&knock_path, Some(&bob.token), json!({})).await.ok();
    assert_eq!(
        membership(&a, &alice, &room, &bob.user_id).await.as_deref(),
        Some("knock")
    );
    invite(&a, &alice, &room, &bob.user_id).await;
    sync_until(&b, &bob, |s| s["rooms"]["invite"][&room].is_object()).await;
    b.join(&bob, &room).await.ok();
    wait_membership(&a, &alice, &room, &bob.user_id, "join").await;
}

#[tokio::test]
async fn knocking_where_the_rules_do_not_allow_it_is_refused() {
    let ca = TestCa::new();
    let a = TestServer::start_federating(&ca, |_| {}).await;
    let b = TestServer::start_federating(&ca, |_| {}).await;
    let alice = a.register("alice", "pw-alice-1").await;
    let bob = b.register("bob", "pw-bob-1").await;
    a.create_room(&alice, json!({ "preset": "private_chat", "room_alias_name": "closed" }))
        .await;
    let alias = format!("#closed:{}", origin(&a));
    let reply = b
        .post(
            &format!("/_matrix/client/v3/knock/{}", accord_testkit::urlencode(&alias)),
            Some(&bob.token),
            json!({}),
        )
        .await;
    reply.assert_error(403, "M_FORBIDDEN");
    let sync = b.sync(&bob, None, 0, None).await;
    assert!(
        sync["rooms"]["knock"].as_object().is_none_or(|m| m.is_empty()),
        "{sync}"
    );
}

#[tokio::test]
async fn a_restricted_room_admits_remote_members_of_the_allowed_room_only() {
    let ca = TestCa::new();
    let a = TestServer::start_federating(&ca, |_| {}).await;
    let b = TestServer::start_federating(&ca, |_| {}).await;
    let alice = a.register("alice", "pw-alice-1").await;
    let bob = b.register("bob", "pw-bob-1").await;
    let dave = b.register("dave", "pw-dave-1").await;
    let space = a
        .create_room(
            &alice,
            json!({ "preset": "public_chat", "room_alias_name": "agency", "creation_content": { "type": "m.space" } }),
        )
        .await;
    let room = a
        .create_room(
            &alice,
            json!({
                "preset": "private_chat",
                "name": "Members of the agency space",
                "initial_state": [{
                    "type": "m.room.join_rules",
                    "state_key": "",
                    "content": { "join_rule": "restricted", "allow": [{ "type": "m.room_membership", "room_id": space }] },
                }],
            }),
        )
        .await;
    let join_path = format!(
        "/_matrix/client/v3/join/{}?via={}",
        accord_testkit::urlencode(&room),
        origin(&a)
    );

    // Dave is in no allowed room: refused by A.
    let refused = b.post(&join_path, Some(&dave.token), json!({})).await;
    refused.assert_error(403, "M_FORBIDDEN");

    // Bob joins the space, then the room: A's Alice vouches and A countersigns.
    b.join(&bob, &format!("#agency:{}", origin(&a))).await.ok();
    b.post(&join_path, Some(&bob.token), json!({})).await.ok();
    let member = a
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/state/m.room.member/{}", bob.user_id),
            Some(&alice.token),
        )
        .await
        .ok();
    assert_eq!(member["membership"], "join");
    assert_eq!(member["join_authorised_via_users_server"], json!(alice.user_id));
    // B stored the countersigned join (it verified A's signature on it).
    let on_b = b
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/state/m.room.member/{}", bob.user_id),
            Some(&bob.token),
        )
        .await
        .ok();
    assert_eq!(on_b["membership"], "join");
}
