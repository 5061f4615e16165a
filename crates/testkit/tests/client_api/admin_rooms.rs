//! Rooms through Synapse's admin API shape: admins see any room's summary, members, state,
//! history and extremities without being in it; block rooms; shut them down; and make a
//! user room admin through the room's most powerful local member.

use accord_testkit::TestServer;
use serde_json::{Value, json};

fn names(list: &Value, field: &str) -> Vec<String> {
    list.as_array()
        .expect("a list")
        .iter()
        .filter_map(|item| item[field].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn admins_read_any_room_without_joining_it() {
    let server = TestServer::start().await;
    let admin = server.create_user("root", "pw-root-1", true).await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-12").await;
    let room = server
        .create_room(
            &alice,
            json!({ "name": "Planning", "topic": "Q3", "room_alias_name": "planning", "preset": "public_chat" }),
        )
        .await;
    server.join(&bob, &room).await.ok();
    let quiet = server.create_room(&bob, json!({ "name": "Another" })).await;
    for n in 0..12 {
        server.send_text(&alice, &room, &format!("message {n}")).await;
    }

    let details = server
        .get(&format!("/_synapse/admin/v1/rooms/{room}"), Some(&admin.token))
        .await
        .ok();
    assert_eq!(details["name"], "Planning");
    assert_eq!(details["topic"], "Q3");
    assert_eq!(details["canonical_alias"], "#planning:localhost");
    assert_eq!(details["joined_members"], 2);
    assert_eq!(details["joined_local_members"], 2);
    assert_eq!(details["creator"], alice.user_id);
    assert_eq!(details["join_rules"], "public");
    assert_eq!(details["federatable"], true);
    assert!(details["state_events"].as_u64().is_some_and(|n| n >= 7));

    let list = server.get("/_synapse/admin/v1/rooms", Some(&admin.token)).await.ok();
    assert_eq!(list["total_rooms"], 2);
    assert_eq!(names(&list["rooms"], "name"), ["Another", "Planning"]);
    let by_size = server
        .get(
            "/_synapse/admin/v1/rooms?order_by=joined_members&limit=1",
            Some(&admin.token),
        )
        .await
        .ok();
    assert_eq!(names(&by_size["rooms"], "room_id"), std::slice::from_ref(&room));
    assert_eq!(by_size["next_batch"], 1);
    let searched = server
        .get("/_synapse/admin/v1/rooms?search_term=plan", Some(&admin.token))
        .await
        .ok();
    assert_eq!(names(&searched["rooms"], "room_id"), std::slice::from_ref(&room));
    server
        .get("/_synapse/admin/v1/rooms?order_by=colour", Some(&admin.token))
        .await
        .assert_error(400, "M_INVALID_PARAM");

    let members = server
        .get(&format!("/_synapse/admin/v1/rooms/{room}/members"), Some(&admin.token))
        .await
        .ok();
    assert_eq!(members["total"], 2);
    let state = server
        .get(
            &format!("/_synapse/admin/v1/rooms/{room}/state?type=m.room.name"),
            Some(&admin.token),
        )
        .await
        .ok();
    assert_eq!(state["state"][0]["content"]["name"], "Planning");
    assert_eq!(state["state"].as_array().map(Vec::len), Some(1));

    // History, newest first, in pages.
    let first = server
        .get(
            &format!("/_synapse/admin/v1/rooms/{room}/messages?limit=5"),
            Some(&admin.token),
        )
        .await
        .ok();
    let bodies: Vec<String> = first["chunk"]
        .as_array()
        .expect("chunk")
        .iter()
        .filter_map(|event| event["content"]["body"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        bodies,
        ["message 11", "message 10", "message 9", "message 8", "message 7"]
    );
    let end = first["end"].as_str().expect("end");
    let next = server
        .get(
            &format!("/_synapse/admin/v1/rooms/{room}/messages?limit=1&from={end}"),
            Some(&admin.token),
        )
        .await
        .ok();
    assert_eq!(next["chunk"][0]["content"]["body"], "message 6");

    let extremities = server
        .get(
            &format!("/_synapse/admin/v1/rooms/{room}/forward_extremities"),
            Some(&admin.token),
        )
        .await
        .ok();
    assert_eq!(extremities["count"], 1);
    assert!(extremities["results"][0]["event_id"].as_str().is_some());

    server
        .get("/_synapse/admin/v1/rooms/!nowhere:localhost", Some(&admin.token))
        .await
        .assert_error(404, "M_NOT_FOUND");
    server
        .get("/_synapse/admin/v1/rooms/not-a-room", Some(&admin.token))
        .await
        .assert_error(400, "M_INVALID_PARAM");
    // The quiet room is there too, with one member.
    let other = server
        .get(&format!("/_synapse/admin/v1/rooms/{quiet}/members"), Some(&admin.token))
        .await
        .ok();
    assert_eq!(other["members"], json!([bob.user_id]));
}

#[tokio::test]
async fn blocked_rooms_take_no_joins_and_shut_down_rooms_lose_their_local_members() {
    let server = TestServer::start().await;
    let admin = server.create_user("root", "pw-root-1", true).await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-12").await;
    let carol = server.register("carol", "pw-carol-1").await;
    let room = server
        .create_room(
            &alice,
            json!({ "preset": "public_chat", "room_alias_name": "bad", "visibility": "public" }),
        )
        .await;
    server.join(&bob, &room).await.ok();
    let block = format!("/_synapse/admin/v1/rooms/{room}/block");
    assert_eq!(
        server.get(&block, Some(&admin.token)).await.ok(),
        json!({ "block": false })
    );
    server
        .put(&block, Some(&admin.token), json!({ "block": true }))
        .await
        .ok();
    let shown = server.get(&block, Some(&admin.token)).await.ok();
    assert_eq!(shown, json!({ "block": true, "user_id": admin.user_id }));
    server.join(&carol, &room).await.assert_error(403, "M_FORBIDDEN");
    server
        .put(&block, Some(&admin.token), json!({ "block": false }))
        .await
        .ok();
    server.join(&carol, &room).await.ok();

    // Shutting down without purging: every local member leaves, the history stays.
    let path = format!("/_synapse/admin/v1/rooms/{room}");
    server
        .delete(&path, Some(&admin.token), Some(json!({ "block": "yes" })))
        .await
        .assert_error(400, "M_BAD_JSON");
    let report = server
        .delete(
            &path,
            Some(&admin.token),
            Some(json!({ "block": true, "purge": false })),
        )
        .await
        .ok();
    let mut kicked: Vec<String> = report["kicked_users"]
        .as_array()
        .expect("kicked")
        .iter()
        .filter_map(|user| user.as_str().map(str::to_owned))
        .collect();
    kicked.sort();
    assert_eq!(
        kicked,
        [alice.user_id.clone(), bob.user_id.clone(), carol.user_id.clone()]
    );
    assert_eq!(report["local_aliases"], json!(["#bad:localhost"]));
    assert_eq!(report["failed_to_kick_users"], json!([]));
    let joined = server
        .get("/_matrix/client/v3/joined_rooms", Some(&bob.token))
        .await
        .ok();
    assert_eq!(joined["joined_rooms"], json!([]));
    server.join(&bob, &room).await.assert_error(403, "M_FORBIDDEN");
    server
        .get("/_matrix/client/v3/directory/room/%23bad:localhost", None)
        .await
        .assert_error(404, "M_NOT_FOUND");
    let directory = server.get("/_matrix/client/v3/publicRooms", None).await.ok();
    assert_eq!(directory["chunk"], json!([]));
    // An unknown room can be blocked ahead.
    let ahead = server
        .delete(
            "/_synapse/admin/v1/rooms/!future:localhost",
            Some(&admin.token),
            Some(json!({ "block": true, "purge": false })),
        )
        .await
        .ok();
    assert_eq!(ahead["kicked_users"], json!([]));
    let future = server
        .get("/_synapse/admin/v1/rooms/!future:localhost/block", Some(&admin.token))
        .await
        .ok();
    assert_eq!(future["block"], true);
}

#[tokio::test]
async fn make_room_admin_grants_power_through_the_strongest_local_member() {
    let server = TestServer::start().await;
    let admin = server.create_user("root", "pw-root-1", true).await;
    let alice = server.register("alice", "pw-alice-1").await;
    for version in ["10", "12"] {
        let room = server
            .create_room(&alice, json!({ "preset": "private_chat", "room_version": version }))
            .await;
        server
            .post(
                &format!("/_synapse/admin/v1/rooms/{room}/make_room_admin"),
                Some(&admin.token),
                json!({}),
            )
            .await
            .ok();
        let levels = server
            .get(
                &format!("/_matrix/client/v3/rooms/{room}/state/m.room.power_levels/"),
                Some(&alice.token),
            )
            .await
            .ok();
        assert_eq!(levels["users"][&admin.user_id], 100, "room version {version}: {levels}");
        // Invited, so the admin can join the private room.
        server.join(&admin, &room).await.ok();
        server
            .put(
                &format!("/_matrix/client/v3/rooms/{room}/state/m.room.topic/"),
                Some(&admin.token),
                json!({ "topic": "moderated" }),
            )
            .await
            .ok();
    }
    // A room with no local member who may change power levels: 400.
    let bob = server.register("bob", "pw-bob-12").await;
    let room = server.create_room(&bob, json!({ "preset": "public_chat" })).await;
    server
        .post(
            &format!("/_matrix/client/v3/rooms/{room}/leave"),
            Some(&bob.token),
            json!({}),
        )
        .await
        .ok();
    server
        .post(
            &format!("/_synapse/admin/v1/rooms/{room}/make_room_admin"),
            Some(&admin.token),
            json!({ "user_id": alice.user_id }),
        )
        .await
        .assert_error(400, "M_INVALID_PARAM");
}

/// Waits for purge `id` to finish; its final status.
async fn purge_finished(server: &TestServer, token: &str, id: &str) -> Value {
    for _ in 0..200 {
        let status = server
            .get(&format!("/_synapse/admin/v1/purge_history_status/{id}"), Some(token))
            .await
            .ok();
        if status["status"] != "active" {
            return status;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("purge {id} still active");
}

#[tokio::test]
async fn purge_history_prunes_messages_before_a_point_and_keeps_the_rest() {
    let server = TestServer::start().await;
    let admin = server.create_user("root", "pw-root-1", true).await;
    let alice = server.register("alice", "pw-alice-1").await;
    let room = server
        .create_room(&alice, json!({ "preset": "public_chat", "name": "Purged" }))
        .await;
    let mut sent = Vec::new();
    for n in 0..10 {
        sent.push(server.send_text(&alice, &room, &format!("message {n}")).await);
    }
    let path = format!("/_synapse/admin/v1/purge_history/{room}");
    server
        .post(&path, Some(&admin.token), json!({}))
        .await
        .assert_error(400, "M_BAD_JSON");
    // Local users' messages stay unless asked.
    let kept = server
        .post(&format!("{path}/{}", sent[6]), Some(&admin.token), json!({}))
        .await
        .ok();
    let status = purge_finished(&server, &admin.token, kept["purge_id"].as_str().expect("id")).await;
    assert_eq!(
        (status["status"].clone(), status["events_pruned"].clone()),
        (json!("complete"), json!(0))
    );
    let purge = server
        .post(
            &path,
            Some(&admin.token),
            json!({ "purge_up_to_event_id": sent[6], "delete_local_events": true }),
        )
        .await
        .ok();
    let status = purge_finished(&server, &admin.token, purge["purge_id"].as_str().expect("id")).await;
    assert_eq!(
        (status["status"].clone(), status["events_pruned"].clone()),
        (json!("complete"), json!(6))
    );
    for (n, event_id) in sent.iter().enumerate() {
        let event = server
            .get(
                &format!("/_matrix/client/v3/rooms/{room}/event/{event_id}"),
                Some(&alice.token),
            )
            .await
            .ok();
        let body = event["content"]["body"].as_str();
        if n < 6 {
            assert_eq!(body, None, "message {n} pruned: {event}");
        } else {
            assert_eq!(body, Some(format!("message {n}").as_str()));
        }
    }
    let name = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/state/m.room.name/"),
            Some(&alice.token),
        )
        .await
        .ok();
    assert_eq!(name["name"], "Purged", "state stays");
    server
        .get("/_synapse/admin/v1/purge_history_status/nope", Some(&admin.token))
        .await
        .assert_error(404, "M_NOT_FOUND");
    server
        .post(
            &format!("/_synapse/admin/v1/purge_history/!other:localhost/{}", sent[0]),
            Some(&admin.token),
            json!({}),
        )
        .await
        .assert_error(404, "M_NOT_FOUND");
}
