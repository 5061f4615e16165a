//! `/user_directory/search`: who is found (room-mates and members of published rooms; every
//! local account with `search_all_users`), by id or profile name, never by a room-specific
//! name; as Complement's TestRoomSpecificUsernameChange and ...AtJoin check.

use accord_testkit::{TestServer, TestUser};
use serde_json::{Value, json};

async fn search(server: &TestServer, user: &TestUser, term: &str) -> Value {
    let reply = server
        .post(
            "/_matrix/client/v3/user_directory/search",
            Some(&user.token),
            json!({ "search_term": term }),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body
}

fn found(body: &Value) -> Vec<(String, Value)> {
    body["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|hit| {
            (
                hit["user_id"].as_str().expect("user_id").to_owned(),
                hit["display_name"].clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn room_mates_and_public_room_members_are_found_by_profile_never_by_room_name() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    let eve = server.register("eve", "pw-eve-1").await;
    let reply = server
        .put(
            &format!("/_matrix/client/v3/profile/{}/displayname", alice.user_id),
            Some(&alice.token),
            json!({ "displayname": "Alice Cooper" }),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    // Alice is in a published room: anyone may find her.
    server
        .create_room(&alice, json!({ "visibility": "public", "preset": "public_chat" }))
        .await;
    // Bob's private room, where Alice takes a name only Bob should know.
    let private = server
        .create_room(&bob, json!({ "preset": "private_chat", "invite": [alice.user_id] }))
        .await;
    assert_eq!(server.join(&alice, &private).await.status, 200);
    let reply = server
        .put(
            &format!(
                "/_matrix/client/v3/rooms/{private}/state/m.room.member/{}",
                alice.user_id
            ),
            Some(&alice.token),
            json!({ "membership": "join", "displayname": "Freddy" }),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);

    let just_alice = vec![(alice.user_id.clone(), json!("Alice Cooper"))];
    for searcher in [&eve, &bob] {
        assert_eq!(found(&search(&server, searcher, "Alice Cooper").await), just_alice);
        assert_eq!(found(&search(&server, searcher, "@alice").await), just_alice);
        assert_eq!(found(&search(&server, searcher, "ali").await), just_alice);
        assert_eq!(found(&search(&server, searcher, "Freddy").await), vec![]);
    }
    // Eve shares no room with Bob and Bob is in no published room: Eve can't find him; Alice,
    // Bob's room-mate, can.
    assert_eq!(found(&search(&server, &eve, "bob").await), vec![]);
    assert_eq!(
        found(&search(&server, &alice, "bob").await),
        vec![(bob.user_id.clone(), json!("bob"))]
    );
    let body = search(&server, &alice, "a");
    assert_eq!(body.await["limited"], json!(false));
}

#[tokio::test]
async fn search_all_users_finds_every_active_local_account() {
    let server = TestServer::start_with(|config| config.user_directory.search_all_users = true).await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    let carol = server.register("carol", "pw-carol-1").await;
    assert_eq!(
        found(&search(&server, &alice, "bob").await),
        vec![(bob.user_id.clone(), json!("bob"))]
    );
    // A deactivated account is found by nobody.
    let reply = server
        .post(
            "/_matrix/client/v3/account/deactivate",
            Some(&carol.token),
            json!({ "auth": { "type": "m.login.password", "identifier": { "type": "m.id.user", "user": "carol" }, "password": "pw-carol-1" } }),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(found(&search(&server, &alice, "carol").await), vec![]);
    // `limit` bounds the answer and says so.
    let reply = server
        .post(
            "/_matrix/client/v3/user_directory/search",
            Some(&alice.token),
            json!({ "search_term": "localhost", "limit": 1 }),
        )
        .await;
    assert_eq!(
        reply.body["results"].as_array().map(Vec::len),
        Some(1),
        "{}",
        reply.body
    );
    assert_eq!(reply.body["limited"], json!(true));
    // No token, no search.
    let anonymous = server
        .post(
            "/_matrix/client/v3/user_directory/search",
            None,
            json!({ "search_term": "bob" }),
        )
        .await;
    assert_eq!(anonymous.status, 401);
}
