//! Ignoring users (spec: "Ignoring Users"): an ignored user's messages leave every place a
//! client reads events (sync, /messages, /context, /event, search) and the notification
//! counts, while their state events stay; un-ignoring shows their new messages again.

use accord_testkit::{TestServer, TestUser};
use serde_json::{Value, json};

async fn ignore(server: &TestServer, user: &TestUser, ignored: &[&str]) {
    let list: serde_json::Map<String, Value> = ignored.iter().map(|u| ((*u).to_owned(), json!({}))).collect();
    let reply = server
        .put(
            &format!(
                "/_matrix/client/v3/user/{}/account_data/m.ignored_user_list",
                user.user_id
            ),
            Some(&user.token),
            json!({ "ignored_users": list }),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

fn timeline_ids(sync: &Value, room: &str) -> Vec<String> {
    sync["rooms"]["join"][room]["timeline"]["events"]
        .as_array()
        .map(|events| {
            events
                .iter()
                .filter_map(|e| e["event_id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn an_ignored_users_messages_are_hidden_but_not_their_state() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    let carol = server.register("carol", "pw-carol-1").await;
    let room = server.create_room(&alice, json!({ "preset": "public_chat" })).await;
    for user in [&bob, &carol] {
        assert_eq!(server.join(user, &room).await.status, 200);
    }
    let levels = server
        .put(
            &format!("/_matrix/client/v3/rooms/{room}/state/m.room.power_levels/"),
            Some(&alice.token),
            json!({ "users": { alice.user_id.clone(): 100, carol.user_id.clone(): 50 } }),
        )
        .await;
    assert_eq!(levels.status, 200, "{}", levels.body);
    ignore(&server, &bob, &[&carol.user_id]).await;
    let since = server.sync(&bob, None, 0, None).await["next_batch"]
        .as_str()
        .expect("next_batch")
        .to_owned();

    let from_alice = server.send_text(&alice, &room, "hello everyone").await;
    let from_carol = server.send_text(&carol, &room, "unwelcome words").await;
    let rename = server
        .put(
            &format!("/_matrix/client/v3/rooms/{room}/state/m.room.name/"),
            Some(&carol.token),
            json!({ "name": "Carol's room" }),
        )
        .await
        .ok()["event_id"]
        .as_str()
        .expect("event_id")
        .to_owned();

    let sync = server.sync(&bob, Some(&since), 0, None).await;
    let ids = timeline_ids(&sync, &room);
    assert!(ids.contains(&from_alice) && ids.contains(&rename), "{ids:?}");
    assert!(!ids.contains(&from_carol), "{ids:?}");
    // Only Alice's message counts.
    assert_eq!(
        sync["rooms"]["join"][&room]["unread_notifications"]["notification_count"],
        1
    );

    let messages = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=50"),
            Some(&bob.token),
        )
        .await
        .ok();
    let chunk: Vec<&str> = messages["chunk"]
        .as_array()
        .expect("chunk")
        .iter()
        .filter_map(|e| e["event_id"].as_str())
        .collect();
    assert!(chunk.contains(&from_alice.as_str()) && !chunk.contains(&from_carol.as_str()));
    let event = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/event/{from_carol}"),
            Some(&bob.token),
        )
        .await;
    assert_eq!(event.status, 404, "{}", event.body);
    let search = server
        .post(
            "/_matrix/client/v3/search",
            Some(&bob.token),
            json!({ "search_categories": { "room_events": { "search_term": "unwelcome" } } }),
        )
        .await
        .ok();
    assert_eq!(
        search["search_categories"]["room_events"]["results"],
        json!([]),
        "{search}"
    );
    // Alice ignores nobody and sees everything.
    let event = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/event/{from_carol}"),
            Some(&alice.token),
        )
        .await;
    assert_eq!(event.status, 200);

    // Un-ignored: new messages show again.
    ignore(&server, &bob, &[]).await;
    let again = server.send_text(&carol, &room, "second try").await;
    let sync = server.sync(&bob, Some(&since), 0, None).await;
    assert!(timeline_ids(&sync, &room).contains(&again));
}
