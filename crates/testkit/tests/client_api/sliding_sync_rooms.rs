//! Simplified sliding sync (MSC4186): what one room carries. Timeline, `limited`,
//! `num_live`, `prev_batch`, `initial`, `required_state` with wildcards, `$LAZY` and `$ME`,
//! only changed state later, name, avatar, heroes, counts, invites and departures.

use accord_testkit::{TestServer, TestUser};
use serde_json::{Value, json};

fn pos_of(body: &Value) -> String {
    body["pos"].as_str().expect("pos").to_owned()
}

fn subscribe(room: &str, timeline_limit: u64, required_state: Value) -> Value {
    json!({ "room_subscriptions": { room: { "timeline_limit": timeline_limit, "required_state": required_state } } })
}

/// `(type, state_key)` of a room's `required_state`, sorted.
fn state_keys(room: &Value) -> Vec<(String, String)> {
    let mut keys: Vec<(String, String)> = room["required_state"]
        .as_array()
        .map(|events| {
            events
                .iter()
                .map(|e| {
                    (
                        e["type"].as_str().unwrap_or_default().to_owned(),
                        e["state_key"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    keys.sort();
    keys
}

fn key(kind: &str, state_key: &str) -> (String, String) {
    (kind.to_owned(), state_key.to_owned())
}

async fn three_member_room(server: &TestServer, alice: &TestUser, bob: &TestUser, carol: &TestUser) -> String {
    let room = server
        .create_room(
            alice,
            json!({ "preset": "public_chat", "name": "The room", "topic": "Things" }),
        )
        .await;
    assert_eq!(server.join(bob, &room).await.status, 200);
    assert_eq!(server.join(carol, &room).await.status, 200);
    room
}

#[tokio::test]
async fn timeline_limited_num_live_and_a_prev_batch_for_messages() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let room = server.create_room(&alice, json!({})).await;
    let mut sent = Vec::new();
    for i in 0..5 {
        sent.push(server.send_text(&alice, &room, &format!("m{i}")).await);
    }
    let first = server
        .sliding_sync(&alice, None, 0, subscribe(&room, 3, json!([])))
        .await
        .ok();
    let r = &first["rooms"][&room];
    assert_eq!(r["initial"], true);
    assert_eq!(r["limited"], true);
    assert_eq!(r["num_live"], 0, "nothing is live on a new connection");
    let ids: Vec<&str> = r["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .filter_map(|e| e["event_id"].as_str())
        .collect();
    assert_eq!(
        ids,
        sent[2..].iter().map(String::as_str).collect::<Vec<_>>(),
        "the newest 3, oldest first"
    );
    // prev_batch pages back from just before the timeline.
    let prev = r["prev_batch"].as_str().expect("prev_batch");
    let page = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=2&from={prev}"),
            Some(&alice.token),
        )
        .await
        .ok();
    let older: Vec<&str> = page["chunk"]
        .as_array()
        .expect("chunk")
        .iter()
        .filter_map(|e| e["event_id"].as_str())
        .collect();
    assert_eq!(older, vec![sent[1].as_str(), sent[0].as_str()]);

    let newer = server.send_text(&alice, &room, "m5").await;
    let next = server
        .sliding_sync(&alice, Some(&pos_of(&first)), 0, subscribe(&room, 3, json!([])))
        .await
        .ok();
    let r = &next["rooms"][&room];
    assert!(r.get("initial").is_none());
    assert!(r.get("limited").is_none_or(|l| l == false), "one new event fits: {r}");
    assert_eq!(r["num_live"], 1);
    assert_eq!(r["timeline"][0]["event_id"], newer.as_str());
    assert_eq!(r["timeline"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn required_state_wildcards_lazy_members_and_me() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    let carol = server.register("carol", "pw-carol-1").await;
    let room = three_member_room(&server, &alice, &bob, &carol).await;
    server.send_text(&bob, &room, "bob speaks last").await;

    // Exact keys, $ME and $LAZY: bob sent the one timeline event; carol is not asked for.
    let wanted = json!([
        ["m.room.name", ""],
        ["m.room.member", "$ME"],
        ["m.room.member", "$LAZY"]
    ]);
    let body = server
        .sliding_sync(&alice, None, 0, subscribe(&room, 1, wanted.clone()))
        .await
        .ok();
    assert_eq!(
        state_keys(&body["rooms"][&room]),
        vec![
            key("m.room.member", &alice.user_id),
            key("m.room.member", &bob.user_id),
            key("m.room.name", "")
        ]
    );
    // A type with every state key.
    let body = server
        .sliding_sync(&alice, None, 0, subscribe(&room, 1, json!([["m.room.member", "*"]])))
        .await
        .ok();
    let members: Vec<(String, String)> = [&alice, &bob, &carol]
        .iter()
        .map(|u| key("m.room.member", &u.user_id))
        .collect();
    let mut expected = members.clone();
    expected.sort();
    assert_eq!(state_keys(&body["rooms"][&room]), expected);
    // Every type with one state key, matched exactly.
    let body = server
        .sliding_sync(&alice, None, 0, subscribe(&room, 1, json!([["*", ""]])))
        .await
        .ok();
    let keys = state_keys(&body["rooms"][&room]);
    assert!(keys.contains(&key("m.room.topic", "")) && keys.contains(&key("m.room.create", "")));
    assert!(keys.iter().all(|(_, k)| k.is_empty()), "{keys:?}");
    // Everything.
    let body = server
        .sliding_sync(&alice, None, 0, subscribe(&room, 1, json!([["*", "*"]])))
        .await
        .ok();
    let all = state_keys(&body["rooms"][&room]);
    assert!(members.iter().all(|m| all.contains(m)));

    // Later: only what changed and is asked for. Carol speaks: her member event comes now
    // ($LAZY); bob's does not come again.
    let first = server
        .sliding_sync(&alice, None, 0, subscribe(&room, 1, wanted.clone()))
        .await
        .ok();
    server.send_text(&carol, &room, "carol speaks").await;
    let next = server
        .sliding_sync(&alice, Some(&pos_of(&first)), 0, subscribe(&room, 1, wanted.clone()))
        .await
        .ok();
    assert_eq!(
        state_keys(&next["rooms"][&room]),
        vec![key("m.room.member", &carol.user_id)]
    );
    server.send_text(&bob, &room, "bob again").await;
    let again = server
        .sliding_sync(&alice, Some(&pos_of(&next)), 0, subscribe(&room, 1, wanted.clone()))
        .await
        .ok();
    assert!(
        state_keys(&again["rooms"][&room]).is_empty(),
        "bob's member event was sent already"
    );
    // A topic change is not asked for; a name change is, alone.
    server
        .put(
            &format!("/_matrix/client/v3/rooms/{room}/state/m.room.topic/"),
            Some(&alice.token),
            json!({ "topic": "New" }),
        )
        .await
        .ok();
    server
        .put(
            &format!("/_matrix/client/v3/rooms/{room}/state/m.room.name/"),
            Some(&alice.token),
            json!({ "name": "Renamed" }),
        )
        .await
        .ok();
    let renamed = server
        .sliding_sync(&alice, Some(&pos_of(&again)), 0, subscribe(&room, 0, wanted.clone()))
        .await
        .ok();
    let r = &renamed["rooms"][&room];
    assert_eq!(state_keys(r), vec![key("m.room.name", "")]);
    assert_eq!(r["name"], "Renamed");
    // Asking for more state sends it at once, without `initial`.
    let widened = json!([
        ["m.room.name", ""],
        ["m.room.member", "$ME"],
        ["m.room.member", "$LAZY"],
        ["m.room.topic", ""]
    ]);
    let wider = server
        .sliding_sync(&alice, Some(&pos_of(&renamed)), 5_000, subscribe(&room, 0, widened))
        .await
        .ok();
    let r = &wider["rooms"][&room];
    assert!(state_keys(r).contains(&key("m.room.topic", "")), "{r}");
    assert!(r.get("initial").is_none());
}

#[tokio::test]
async fn names_avatars_heroes_and_member_counts() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    let carol = server.register("carol", "pw-carol-1").await;
    server
        .put(
            &format!("/_matrix/client/v3/profile/{}/displayname", bob.user_id),
            Some(&bob.token),
            json!({ "displayname": "Bob B" }),
        )
        .await
        .ok();
    let unnamed = server
        .create_room(&alice, json!({ "preset": "public_chat", "invite": [carol.user_id] }))
        .await;
    assert_eq!(server.join(&bob, &unnamed).await.status, 200);
    server
        .put(
            &format!("/_matrix/client/v3/rooms/{unnamed}/state/m.room.avatar/"),
            Some(&alice.token),
            json!({ "url": "mxc://example.org/avatar" }),
        )
        .await
        .ok();
    let body = server
        .sliding_sync(&alice, None, 0, subscribe(&unnamed, 1, json!([])))
        .await
        .ok();
    let r = &body["rooms"][&unnamed];
    assert!(r.get("name").is_none());
    assert_eq!(r["avatar"], "mxc://example.org/avatar");
    assert_eq!(r["joined_count"], 2);
    assert_eq!(r["invited_count"], 1);
    let heroes = r["heroes"].as_array().expect("heroes in an unnamed room");
    let bob_hero = heroes
        .iter()
        .find(|h| h["user_id"] == bob.user_id.as_str())
        .expect("bob is a hero");
    assert_eq!(bob_hero["displayname"], "Bob B");
    assert!(
        heroes.iter().all(|h| h["user_id"] != alice.user_id.as_str()),
        "not the user themselves"
    );
    assert!(r["notification_count"].is_u64() && r["highlight_count"].is_u64());

    // The invitee sees the invite: stripped state with their own member event, no timeline.
    let invited = server
        .sliding_sync(&carol, None, 0, subscribe(&unnamed, 5, json!([])))
        .await
        .ok();
    let r = &invited["rooms"][&unnamed];
    let state = r["invite_state"].as_array().expect("invite_state");
    let own = state
        .iter()
        .find(|e| e["type"] == "m.room.member" && e["state_key"] == carol.user_id.as_str())
        .expect("the invitee's own member event");
    assert_eq!(own["sender"], alice.user_id.as_str());
    assert!(r.get("timeline").is_none());
    assert!(r["bump_stamp"].is_u64());
    // Joining: the room is new to the client, sent whole.
    assert_eq!(server.join(&carol, &unnamed).await.status, 200);
    let joined = server
        .sliding_sync(
            &carol,
            Some(&pos_of(&invited)),
            0,
            subscribe(&unnamed, 5, json!([["m.room.member", "$ME"]])),
        )
        .await
        .ok();
    let r = &joined["rooms"][&unnamed];
    assert_eq!(r["initial"], true);
    assert!(r.get("invite_state").is_none());
    assert_eq!(r["required_state"][0]["content"]["membership"], "join");
}

/// A room the user leaves is sent once with the departure, then drops out of the list; a
/// room they were kicked from stays listed.
#[tokio::test]
async fn a_left_room_shows_its_departure_once_and_a_kick_stays_listed() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    let left = server.create_room(&alice, json!({ "preset": "public_chat" })).await;
    let kicked = server.create_room(&alice, json!({ "preset": "public_chat" })).await;
    for room in [&left, &kicked] {
        assert_eq!(server.join(&bob, room).await.status, 200);
    }
    let list = json!({ "lists": { "l": { "ranges": [[0, 9]], "timeline_limit": 1, "required_state": [] } } });
    let first = server.sliding_sync(&bob, None, 0, list.clone()).await.ok();
    assert_eq!(first["lists"]["l"]["count"], 2);
    server
        .post(
            &format!("/_matrix/client/v3/rooms/{left}/leave"),
            Some(&bob.token),
            json!({}),
        )
        .await
        .ok();
    server
        .post(
            &format!("/_matrix/client/v3/rooms/{kicked}/kick"),
            Some(&alice.token),
            json!({ "user_id": bob.user_id }),
        )
        .await
        .ok();
    let next = server
        .sliding_sync(&bob, Some(&pos_of(&first)), 0, list.clone())
        .await
        .ok();
    assert_eq!(next["lists"]["l"]["count"], 2);
    for room in [&left, &kicked] {
        let timeline = next["rooms"][room]["timeline"].as_array().expect("timeline");
        assert_eq!(
            timeline.last().map(|e| e["content"]["membership"].clone()),
            Some(json!("leave")),
            "{room}"
        );
    }
    let after = server
        .sliding_sync(&bob, Some(&pos_of(&next)), 0, list.clone())
        .await
        .ok();
    assert_eq!(after["lists"]["l"]["count"], 1, "the kick stays, the leave is gone");
    let fresh = server.sliding_sync(&bob, None, 0, list).await.ok();
    let rooms: Vec<&String> = fresh["rooms"].as_object().expect("rooms").keys().collect();
    assert_eq!(rooms, vec![&kicked]);
}
