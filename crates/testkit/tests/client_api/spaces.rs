//! `/hierarchy` (spec: "Spaces"): a space's rooms breadth first, only those the user may
//! preview (public, member, restricted through a room they are in), a loop walked once,
//! `max_depth`, `suggested_only`, `order`, paging, and 403 for a space the user can't see.

use accord_testkit::{TestServer, TestUser};
use serde_json::{Value, json};

async fn add_child(server: &TestServer, user: &TestUser, space: &str, child: &str, extra: Value) {
    let mut content = json!({ "via": ["localhost"] });
    if let (Some(content), Some(extra)) = (content.as_object_mut(), extra.as_object()) {
        content.extend(extra.clone());
    }
    let reply = server
        .put(
            &format!("/_matrix/client/v3/rooms/{space}/state/m.space.child/{child}"),
            Some(&user.token),
            content,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

fn room_ids(page: &Value) -> Vec<String> {
    page["rooms"]
        .as_array()
        .expect("rooms")
        .iter()
        .map(|room| room["room_id"].as_str().expect("room_id").to_owned())
        .collect()
}

#[tokio::test]
async fn a_space_is_walked_breadth_first_with_only_what_the_user_may_see() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    let eve = server.register("eve", "pw-eve-1").await;
    let space = server
        .create_room(
            &alice,
            json!({ "preset": "private_chat", "name": "Agency", "creation_content": { "type": "m.space" }, "invite": [bob.user_id] }),
        )
        .await;
    assert_eq!(server.join(&bob, &space).await.status, 200);
    let public = server
        .create_room(&alice, json!({ "preset": "public_chat", "name": "Lobby" }))
        .await;
    let private = server
        .create_room(&alice, json!({ "preset": "private_chat", "name": "Board" }))
        .await;
    let restricted = server
        .create_room(
            &alice,
            json!({ "preset": "private_chat", "name": "Staff",
                    "initial_state": [{ "type": "m.room.join_rules", "state_key": "",
                        "content": { "join_rule": "restricted", "allow": [{ "type": "m.room_membership", "room_id": space }] } }] }),
        )
        .await;
    let deeper = server
        .create_room(&alice, json!({ "preset": "public_chat", "name": "Deeper" }))
        .await;
    add_child(
        &server,
        &alice,
        &space,
        &public,
        json!({ "order": "b", "suggested": true }),
    )
    .await;
    add_child(&server, &alice, &space, &private, json!({ "order": "a" })).await;
    add_child(&server, &alice, &space, &restricted, json!({})).await;
    add_child(&server, &alice, &public, &deeper, json!({})).await;
    // A loop back to the space, and a child without `via` (no child at all).
    add_child(&server, &alice, &public, &space, json!({})).await;
    let reply = server
        .put(
            &format!("/_matrix/client/v3/rooms/{space}/state/m.space.child/!gone:localhost"),
            Some(&alice.token),
            json!({ "via": [] }),
        )
        .await;
    assert_eq!(reply.status, 200);

    let path = format!("/_matrix/client/v1/rooms/{space}/hierarchy");
    let page = server.get(&path, Some(&bob.token)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    // Ordered children: "b" (public) before the unordered restricted room; the private one
    // ("a") is left out for Bob; the loop is not followed twice.
    assert_eq!(
        room_ids(&page.body),
        vec![space.clone(), public.clone(), restricted.clone(), deeper.clone()]
    );
    let root = &page.body["rooms"][0];
    assert_eq!(root["room_type"], json!("m.space"));
    assert_eq!(root["name"], json!("Agency"));
    assert_eq!(root["num_joined_members"], json!(2));
    let children: Vec<&Value> = root["children_state"]
        .as_array()
        .expect("children_state")
        .iter()
        .collect();
    assert_eq!(children.len(), 3, "the child without via is no child: {children:?}");
    assert!(
        children
            .iter()
            .all(|event| event["type"] == "m.space.child" && event["origin_server_ts"].is_u64())
    );
    // Alice, a member of all, sees the private room, ordered first ("a").
    let alices = server.get(&path, Some(&alice.token)).await;
    assert_eq!(room_ids(&alices.body)[1..3], [private.clone(), public.clone()]);

    let shallow = server.get(&format!("{path}?max_depth=1"), Some(&bob.token)).await;
    assert_eq!(
        room_ids(&shallow.body),
        vec![space.clone(), public.clone(), restricted.clone()]
    );
    // Only suggested children, at every level (the deeper room is not suggested under Lobby).
    let suggested = server
        .get(&format!("{path}?suggested_only=true"), Some(&bob.token))
        .await;
    assert_eq!(room_ids(&suggested.body), vec![space.clone(), public.clone()]);

    // Paging two at a time covers the same rooms.
    let first = server.get(&format!("{path}?limit=2"), Some(&bob.token)).await;
    assert_eq!(room_ids(&first.body), vec![space.clone(), public.clone()]);
    let next = first.body["next_batch"].as_str().expect("next_batch").to_owned();
    let second = server
        .get(&format!("{path}?limit=2&from={next}"), Some(&bob.token))
        .await;
    assert_eq!(room_ids(&second.body), vec![restricted, deeper]);
    assert!(second.body.get("next_batch").is_none(), "{}", second.body);

    // Eve may not see the private space; a bad token is a bad parameter.
    let refused = server.get(&path, Some(&eve.token)).await;
    assert_eq!(
        (refused.status, refused.body["errcode"].clone()),
        (403, json!("M_FORBIDDEN"))
    );
    let bad = server.get(&format!("{path}?from=xyz"), Some(&bob.token)).await;
    assert_eq!(
        (bad.status, bad.body["errcode"].clone()),
        (400, json!("M_INVALID_PARAM"))
    );
}

#[tokio::test]
async fn another_server_sees_a_space_and_the_children_it_may_preview() {
    use accord_testkit::ca::TestCa;
    use ruma::api::federation::space::get_hierarchy::v1 as get_hierarchy;

    let ca = TestCa::new();
    let a = TestServer::start_federating(&ca, |_| {}).await;
    let b = TestServer::start_federating(&ca, |_| {}).await;
    let bob = b.register("bob", "pw-bob-1").await;
    let space = b
        .create_room(
            &bob,
            json!({ "preset": "public_chat", "name": "Partners", "creation_content": { "type": "m.space" } }),
        )
        .await;
    let public = b
        .create_room(&bob, json!({ "preset": "public_chat", "name": "Shared" }))
        .await;
    let private = b
        .create_room(&bob, json!({ "preset": "private_chat", "name": "Internal" }))
        .await;
    let origin_b = crate::federation_support::origin(&b);
    for child in [&public, &private] {
        let reply = b
            .put(
                &format!("/_matrix/client/v3/rooms/{space}/state/m.space.child/{child}"),
                Some(&bob.token),
                json!({ "via": [origin_b.as_str()], "suggested": child == &public }),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    let client = a.running().services.federation.as_ref().expect("federation").client();
    let answer = client
        .send(
            &origin_b,
            get_hierarchy::Request::new(space.as_str().try_into().expect("room id")),
        )
        .await
        .expect("hierarchy over federation");
    assert_eq!(answer.room.summary.room_id.as_str(), space);
    assert_eq!(answer.room.children_state.len(), 2);
    let children: Vec<String> = answer.children.iter().map(|c| c.room_id.to_string()).collect();
    assert_eq!(children, vec![public.clone()]);
    assert_eq!(answer.children[0].name.as_deref(), Some("Shared"));
    let hidden: Vec<String> = answer.inaccessible_children.iter().map(ToString::to_string).collect();
    assert_eq!(hidden, vec![private.clone()]);
    // A private room itself is not shown to a server with nobody in it.
    let refused = client
        .send(
            &origin_b,
            get_hierarchy::Request::new(private.as_str().try_into().expect("room id")),
        )
        .await;
    assert!(
        matches!(refused, Err(accord_federation::Error::Remote { status: 404, .. })),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_child_on_another_server_is_asked_of_its_via_servers() {
    use accord_testkit::ca::TestCa;

    let ca = TestCa::new();
    let a = TestServer::start_federating(&ca, |_| {}).await;
    let b = TestServer::start_federating(&ca, |_| {}).await;
    let alice = a.register("alice", "pw-alice-1").await;
    let bob = b.register("bob", "pw-bob-1").await;
    let origin_b = crate::federation_support::origin(&b);
    // Bob's rooms on B: a public one (a space itself, with a child) and a private one.
    let public = b
        .create_room(
            &bob,
            json!({ "preset": "public_chat", "name": "Partner lobby", "creation_content": { "type": "m.space" } }),
        )
        .await;
    let nested = b
        .create_room(&bob, json!({ "preset": "public_chat", "name": "Partner desk" }))
        .await;
    let private = b
        .create_room(&bob, json!({ "preset": "private_chat", "name": "Partner board" }))
        .await;
    let reply = b
        .put(
            &format!("/_matrix/client/v3/rooms/{public}/state/m.space.child/{nested}"),
            Some(&bob.token),
            json!({ "via": [origin_b.as_str()] }),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    // Alice's space on A names both of Bob's rooms; A is in neither.
    let space = a
        .create_room(
            &alice,
            json!({ "preset": "private_chat", "name": "Agency", "creation_content": { "type": "m.space" } }),
        )
        .await;
    for child in [&public, &private] {
        let reply = a
            .put(
                &format!("/_matrix/client/v3/rooms/{space}/state/m.space.child/{child}"),
                Some(&alice.token),
                json!({ "via": [origin_b.as_str()] }),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    let page = a
        .get(
            &format!("/_matrix/client/v1/rooms/{space}/hierarchy"),
            Some(&alice.token),
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(
        room_ids(&page.body),
        vec![space.clone(), public.clone(), nested.clone()]
    );
    let remote = &page.body["rooms"][1];
    assert_eq!(remote["name"], json!("Partner lobby"));
    assert_eq!(remote["room_type"], json!("m.space"));
    assert_eq!(remote["children_state"][0]["state_key"], json!(nested));
    assert_eq!(page.body["rooms"][2]["name"], json!("Partner desk"));
}
