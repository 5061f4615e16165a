//! `/sync`: initial and incremental, long-poll wake-up, invites and leaves, filters,
//! tokens across restarts, and a concurrency test with a restart in the middle.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use accord_testkit::{TestServer, TestUser};
use serde_json::{Value, json};

fn timeline(sync: &Value, room: &str) -> Vec<Value> {
    sync["rooms"]["join"][room]["timeline"]["events"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn bodies(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| e["content"]["body"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn initial_then_incremental_sync() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let room = server.create_room(&alice, json!({ "name": "Sync room" })).await;
    server.send_text(&alice, &room, "first").await;
    let initial = server.sync(&alice, None, 0, None).await;
    let joined = &initial["rooms"]["join"][&room];
    assert!(joined.is_object(), "{initial}");
    assert_eq!(bodies(&timeline(&initial, &room)), ["first"]);
    assert_eq!(joined["summary"]["m.joined_member_count"], 1);
    let account_types: Vec<&str> = initial["account_data"]["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["type"].as_str())
        .collect();
    assert!(account_types.contains(&"m.push_rules"));
    let since = initial["next_batch"].as_str().expect("next_batch").to_owned();

    let nothing = server.sync(&alice, Some(&since), 0, None).await;
    assert!(
        nothing["rooms"]["join"].as_object().is_none_or(|j| j.is_empty()),
        "{nothing}"
    );
    assert_eq!(nothing["next_batch"], json!(since));

    server.send_text(&alice, &room, "second").await;
    let path = format!(
        "/_matrix/client/v3/user/{}/account_data/org.example.setting",
        alice.user_id
    );
    server.put(&path, Some(&alice.token), json!({ "on": true })).await.ok();
    let next = server.sync(&alice, Some(&since), 0, None).await;
    assert_eq!(bodies(&timeline(&next, &room)), ["second"]);
    assert_eq!(next["rooms"]["join"][&room]["timeline"]["limited"], false);
    let changed: Vec<&str> = next["account_data"]["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["type"].as_str())
        .collect();
    assert_eq!(changed, ["org.example.setting"]);
    // The sender's own device gets its transaction id back, for local echo.
    assert!(timeline(&next, &room)[0]["unsigned"]["transaction_id"].is_string());
}

#[tokio::test]
async fn long_poll_wakes_promptly_when_an_event_arrives() {
    let server = Arc::new(TestServer::start().await);
    let alice = server.register("alice", "pw-alice-1").await;
    let room = server.create_room(&alice, json!({})).await;
    let since = server.sync(&alice, None, 0, None).await["next_batch"]
        .as_str()
        .expect("token")
        .to_owned();
    let started = Instant::now();
    let waiter = {
        let server = server.clone();
        let alice = alice.clone();
        tokio::spawn(async move { server.sync(&alice, Some(&since), 20_000, None).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.send_text(&alice, &room, "wake up").await;
    let woken = waiter.await.expect("sync task");
    let elapsed = started.elapsed();
    assert_eq!(bodies(&timeline(&woken, &room)), ["wake up"]);
    assert!(
        elapsed < Duration::from_secs(5),
        "woke after {elapsed:?}, not at the event"
    );
    // With nothing arriving, the long poll returns empty at its timeout.
    let since = woken["next_batch"].as_str().expect("token");
    let started = Instant::now();
    let empty = server.sync(&alice, Some(since), 500, None).await;
    assert!(started.elapsed() >= Duration::from_millis(450));
    assert!(
        empty["rooms"]["join"].as_object().is_none_or(|j| j.is_empty()),
        "{empty}"
    );
}

#[tokio::test]
async fn invites_leaves_and_knocks_appear_in_their_sections() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    let since = server.sync(&bob, None, 0, None).await["next_batch"]
        .as_str()
        .expect("token")
        .to_owned();
    let room = server
        .create_room(&alice, json!({ "name": "Secret", "invite": [bob.user_id] }))
        .await;
    let invited = server.sync(&bob, Some(&since), 0, None).await;
    let stripped = invited["rooms"]["invite"][&room]["invite_state"]["events"]
        .as_array()
        .expect("invite state")
        .clone();
    assert!(
        stripped
            .iter()
            .any(|e| e["type"] == "m.room.name" && e["content"]["name"] == "Secret")
    );
    assert!(
        stripped
            .iter()
            .any(|e| e["type"] == "m.room.member" && e["state_key"] == json!(bob.user_id))
    );
    let since = invited["next_batch"].as_str().expect("token").to_owned();

    server.join(&bob, &room).await.ok();
    let joined = server.sync(&bob, Some(&since), 0, None).await;
    let state = joined["rooms"]["join"][&room]["state"]["events"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let timeline_events = timeline(&joined, &room);
    let knows_name = state
        .iter()
        .chain(timeline_events.iter())
        .any(|e| e["type"] == "m.room.name");
    assert!(knows_name, "a newly joined room comes with its state: {joined}");
    let since = joined["next_batch"].as_str().expect("token").to_owned();

    server
        .post(
            &format!("/_matrix/client/v3/rooms/{room}/leave"),
            Some(&bob.token),
            json!({}),
        )
        .await
        .ok();
    let left = server.sync(&bob, Some(&since), 0, None).await;
    let leave_timeline = left["rooms"]["leave"][&room]["timeline"]["events"]
        .as_array()
        .expect("leave timeline")
        .clone();
    assert_eq!(
        leave_timeline.last().expect("leave event")["content"]["membership"],
        "leave"
    );
    assert!(left["rooms"]["join"].get(&room).is_none());
}

#[tokio::test]
async fn filters_limit_the_timeline_and_lazy_load_members() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    let carol = server.register("carol", "pw-carol-1").await;
    // Named, so the summary has no heroes (whose member events lazy loading would send).
    let room = server
        .create_room(&alice, json!({ "preset": "public_chat", "name": "Filters" }))
        .await;
    server.join(&bob, &room).await.ok();
    server.join(&carol, &room).await.ok();
    for i in 0..6 {
        server.send_text(&bob, &room, &format!("b{i}")).await;
    }
    let filter = json!({ "room": { "timeline": { "limit": 3, "types": ["m.room.message"] }, "state": { "lazy_load_members": true } } });
    let synced = server.sync(&alice, None, 0, Some(filter.clone())).await;
    let joined = &synced["rooms"]["join"][&room];
    assert_eq!(bodies(&timeline(&synced, &room)), ["b3", "b4", "b5"]);
    assert_eq!(joined["timeline"]["limited"], true);
    let members: Vec<&str> = joined["state"]["events"]
        .as_array()
        .expect("state")
        .iter()
        .filter(|e| e["type"] == "m.room.member")
        .filter_map(|e| e["state_key"].as_str())
        .collect();
    assert!(
        members.contains(&bob.user_id.as_str()) && members.contains(&alice.user_id.as_str()),
        "{members:?}"
    );
    assert!(
        !members.contains(&carol.user_id.as_str()),
        "carol sent nothing and is lazy-loaded away: {members:?}"
    );
    // prev_batch continues backwards from the timeline.
    let prev = joined["timeline"]["prev_batch"].as_str().expect("prev_batch");
    let filter_types = accord_testkit::urlencode(&json!({ "types": ["m.room.message"] }).to_string());
    let older = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/messages?dir=b&from={prev}&limit=2&filter={filter_types}"),
            Some(&alice.token),
        )
        .await
        .ok();
    assert_eq!(bodies(older["chunk"].as_array().expect("chunk")), ["b2", "b1"]);

    // A stored filter works the same way.
    let stored = server
        .post(
            &format!("/_matrix/client/v3/user/{}/filter", alice.user_id),
            Some(&alice.token),
            filter,
        )
        .await
        .ok();
    let id = stored["filter_id"].as_str().expect("filter id");
    let by_id = server
        .get(&format!("/_matrix/client/v3/sync?filter={id}"), Some(&alice.token))
        .await
        .ok();
    assert_eq!(bodies(&timeline(&by_id, &room)), ["b3", "b4", "b5"]);
    // not_rooms drops the room.
    let excluded = server
        .sync(&alice, None, 0, Some(json!({ "room": { "not_rooms": [room] } })))
        .await;
    assert!(excluded["rooms"]["join"].get(&room).is_none());
}

#[tokio::test]
async fn sync_tokens_stay_valid_across_restart() {
    let mut server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let room = server.create_room(&alice, json!({})).await;
    server.send_text(&alice, &room, "before").await;
    let since = server.sync(&alice, None, 0, None).await["next_batch"]
        .as_str()
        .expect("token")
        .to_owned();
    server.restart().await;
    server.send_text(&alice, &room, "after").await;
    let next = server.sync(&alice, Some(&since), 0, None).await;
    assert_eq!(bodies(&timeline(&next, &room)), ["after"]);
}

/// 8 users send into 3 rooms while 4 clients long-poll `/sync`; every client sees every event
/// exactly once and in stream order, across a server restart in the middle.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_senders_and_syncers_see_every_event_once_in_order_across_restart() {
    const SENDERS: usize = 8;
    const ROOMS: usize = 3;
    const PER_SENDER_PER_PHASE: usize = 10;
    let mut server = TestServer::start().await;
    let mut users: Vec<TestUser> = Vec::new();
    for i in 0..SENDERS {
        users.push(server.register(&format!("sender{i}"), "pw-sender-1").await);
    }
    let mut rooms = Vec::new();
    for r in 0..ROOMS {
        let room = server
            .create_room(
                &users[0],
                json!({ "preset": "public_chat", "name": format!("room {r}") }),
            )
            .await;
        for user in &users[1..] {
            server.join(user, &room).await.ok();
        }
        rooms.push(room);
    }
    let watchers: Vec<TestUser> = users[..4].to_vec();
    let mut tokens: Vec<String> = Vec::new();
    for watcher in &watchers {
        tokens.push(
            server.sync(watcher, None, 0, None).await["next_batch"]
                .as_str()
                .expect("token")
                .to_owned(),
        );
    }
    let mut seen: Vec<Vec<(String, String)>> = vec![Vec::new(); watchers.len()];
    let mut expected = Vec::new();

    for phase in 0..2 {
        let shared = Arc::new(server);
        let senders = users.iter().enumerate().map(|(i, user)| {
            let server = shared.clone();
            let user = user.clone();
            let rooms = rooms.clone();
            tokio::spawn(async move {
                let mut sent = Vec::new();
                for n in 0..PER_SENDER_PER_PHASE {
                    let room = &rooms[(i + n) % rooms.len()];
                    let body = format!("p{phase}-s{i}-n{n}");
                    server.send_text(&user, room, &body).await;
                    sent.push((room.clone(), body));
                }
                sent
            })
        });
        let senders: Vec<_> = senders.collect();
        let total = SENDERS * PER_SENDER_PER_PHASE;
        let syncers: Vec<_> = watchers
            .iter()
            .zip(tokens.iter())
            .map(|(watcher, token)| {
                let server = shared.clone();
                let watcher = watcher.clone();
                let mut token = token.clone();
                tokio::spawn(async move {
                    let mut got: Vec<(String, String, u64)> = Vec::new();
                    let deadline = Instant::now() + Duration::from_secs(60);
                    while got
                        .iter()
                        .filter(|(_, b, _)| b.starts_with(&format!("p{phase}-")))
                        .count()
                        < total
                        && Instant::now() < deadline
                    {
                        let filter = json!({ "room": { "timeline": { "limit": 500 } } });
                        let response = server.sync(&watcher, Some(&token), 5_000, Some(filter)).await;
                        for (room, section) in response["rooms"]["join"].as_object().cloned().unwrap_or_default() {
                            // `limited: false` may be left out (ruma omits it).
                            assert_ne!(section["timeline"]["limited"], true, "timeline must not skip events");
                            for event in section["timeline"]["events"].as_array().cloned().unwrap_or_default() {
                                if let Some(body) = event["content"]["body"].as_str() {
                                    got.push((
                                        room.clone(),
                                        body.to_owned(),
                                        event["origin_server_ts"].as_u64().unwrap_or(0),
                                    ));
                                }
                            }
                        }
                        token = response["next_batch"].as_str().expect("next_batch").to_owned();
                    }
                    (got, token)
                })
            })
            .collect();
        for sender in senders {
            expected.extend(sender.await.expect("sender task"));
        }
        let mut new_tokens = Vec::new();
        for (i, syncer) in syncers.into_iter().enumerate() {
            let (got, token) = syncer.await.expect("syncer task");
            seen[i].extend(got.into_iter().map(|(room, body, _)| (room, body)));
            new_tokens.push(token);
        }
        tokens = new_tokens;
        server = Arc::try_unwrap(shared).unwrap_or_else(|_| panic!("all tasks finished"));
        if phase == 0 {
            server.restart().await;
        }
    }

    let expected_per_room = |room: &str| -> Vec<String> {
        let mut bodies: Vec<String> = expected
            .iter()
            .filter(|(r, _)| r == room)
            .map(|(_, b)| b.clone())
            .collect();
        bodies.sort();
        bodies
    };
    for (i, events) in seen.iter().enumerate() {
        for room in &rooms {
            let got: Vec<String> = events
                .iter()
                .filter(|(r, _)| r == room)
                .map(|(_, b)| b.clone())
                .collect();
            let mut unique = got.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(unique.len(), got.len(), "watcher {i} saw duplicates in {room}");
            assert_eq!(unique, expected_per_room(room), "watcher {i} missed events in {room}");
            // Stream order per room equals the room's timeline order.
            let page = server
                .get(
                    &format!("/_matrix/client/v3/rooms/{room}/messages?dir=f&limit=1000"),
                    Some(&watchers[i].token),
                )
                .await
                .ok();
            let order: Vec<String> = bodies(page["chunk"].as_array().expect("chunk"))
                .into_iter()
                .filter(|b| b.starts_with('p'))
                .collect();
            assert_eq!(got, order, "watcher {i} saw {room} out of order");
        }
        // Within a room, each sender's messages arrive in the order sent (a sync response
        // orders events per room; rooms have no order among themselves).
        let mut per_sender: HashMap<String, Vec<usize>> = HashMap::new();
        for (room, body) in events {
            let mut parts = body.split('-');
            let (phase, sender, n) = (
                parts.next().unwrap_or(""),
                parts.next().unwrap_or(""),
                parts.next().unwrap_or(""),
            );
            let n: usize = n.trim_start_matches('n').parse().unwrap_or(0);
            per_sender.entry(format!("{room}{phase}{sender}")).or_default().push(n);
        }
        for (sender, ns) in per_sender {
            let mut sorted = ns.clone();
            sorted.sort_unstable();
            assert_eq!(ns, sorted, "watcher {i}: {sender}'s messages out of order");
        }
    }
}

#[tokio::test]
async fn receipts_reach_members_and_drive_unread_counts() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    let room = server.create_room(&alice, json!({ "preset": "public_chat" })).await;
    server.join(&bob, &room).await.ok();
    let since = server.sync(&bob, None, 0, None).await["next_batch"]
        .as_str()
        .expect("token")
        .to_owned();
    server.send_text(&alice, &room, "one").await;
    // An intentional mention (spec v1.7+: `m.mentions`) highlights.
    let mention_body =
        json!({ "msgtype": "m.text", "body": "hey bob, look", "m.mentions": { "user_ids": [bob.user_id] } });
    let mention = server
        .put(
            &format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/mention-1"),
            Some(&alice.token),
            mention_body,
        )
        .await
        .ok()["event_id"]
        .as_str()
        .expect("event id")
        .to_owned();
    let counts = server.sync(&bob, Some(&since), 0, None).await;
    let unread = &counts["rooms"]["join"][&room]["unread_notifications"];
    assert_eq!(unread["notification_count"], 2, "{counts}");
    assert_eq!(unread["highlight_count"], 1, "the mention highlights: {counts}");
    let since = counts["next_batch"].as_str().expect("token").to_owned();

    let base = format!("/_matrix/client/v3/rooms/{room}");
    server
        .post(&format!("{base}/receipt/m.read/{mention}"), Some(&bob.token), json!({}))
        .await
        .ok();
    let after = server.sync(&bob, Some(&since), 0, None).await;
    assert_eq!(
        after["rooms"]["join"][&room]["unread_notifications"]["notification_count"],
        0
    );
    let alice_view = server.sync(&alice, None, 0, None).await;
    let receipts = &alice_view["rooms"]["join"][&room]["ephemeral"]["events"][0];
    assert_eq!(receipts["type"], "m.receipt");
    assert!(
        receipts["content"][&mention]["m.read"][&bob.user_id]["ts"].is_u64(),
        "{receipts}"
    );

    // Private receipts are for the reader only; read markers set fully_read.
    let last = server.send_text(&alice, &room, "private read").await;
    let markers = json!({ "m.fully_read": last, "m.read.private": last });
    server
        .post(&format!("{base}/read_markers"), Some(&bob.token), markers)
        .await
        .ok();
    let alice_again = server.sync(&alice, None, 0, None).await;
    let content = &alice_again["rooms"]["join"][&room]["ephemeral"]["events"][0]["content"];
    assert!(
        content.get(&last).is_none(),
        "alice must not see bob's private receipt: {content}"
    );
    let bob_view = server.sync(&bob, None, 0, None).await;
    let room_data = bob_view["rooms"]["join"][&room]["account_data"]["events"]
        .as_array()
        .expect("account data")
        .clone();
    assert!(
        room_data
            .iter()
            .any(|e| e["type"] == "m.fully_read" && e["content"]["event_id"] == json!(last))
    );
    assert_eq!(
        bob_view["rooms"]["join"][&room]["unread_notifications"]["notification_count"],
        0
    );
    server
        .post(&format!("{base}/receipt/m.read/$unknown"), Some(&bob.token), json!({}))
        .await
        .assert_error(404, "M_NOT_FOUND");
}

#[tokio::test]
async fn knocks_and_include_leave() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    let knock_room = server
        .create_room(
            &alice,
            json!({ "room_version": "9", "name": "Knock here",
                "initial_state": [{ "type": "m.room.join_rules", "state_key": "", "content": { "join_rule": "knock" } }] }),
        )
        .await;
    let since = server.sync(&bob, None, 0, None).await["next_batch"]
        .as_str()
        .expect("token")
        .to_owned();
    server
        .post(
            &format!("/_matrix/client/v3/knock/{knock_room}"),
            Some(&bob.token),
            json!({}),
        )
        .await
        .ok();
    let knocked = server.sync(&bob, Some(&since), 0, None).await;
    let state = knocked["rooms"]["knock"][&knock_room]["knock_state"]["events"]
        .as_array()
        .expect("knock state")
        .clone();
    assert!(
        state
            .iter()
            .any(|e| e["type"] == "m.room.name" && e["content"]["name"] == "Knock here"),
        "{knocked}"
    );
    assert!(
        state
            .iter()
            .any(|e| e["type"] == "m.room.member" && e["content"]["membership"] == "knock")
    );

    let public = server.create_room(&alice, json!({ "preset": "public_chat" })).await;
    server.join(&bob, &public).await.ok();
    server
        .post(
            &format!("/_matrix/client/v3/rooms/{public}/leave"),
            Some(&bob.token),
            json!({}),
        )
        .await
        .ok();
    let without = server.sync(&bob, None, 0, None).await;
    assert!(
        without["rooms"]["leave"].get(&public).is_none(),
        "initial sync omits left rooms by default"
    );
    let with = server
        .sync(&bob, None, 0, Some(json!({ "room": { "include_leave": true } })))
        .await;
    assert!(
        with["rooms"]["leave"][&public]["timeline"]["events"].is_array(),
        "{with}"
    );
    // Forgotten rooms disappear even with include_leave.
    server
        .post(
            &format!("/_matrix/client/v3/rooms/{public}/forget"),
            Some(&bob.token),
            json!({}),
        )
        .await
        .ok();
    let forgotten = server
        .sync(&bob, None, 0, Some(json!({ "room": { "include_leave": true } })))
        .await;
    assert!(forgotten["rooms"]["leave"].get(&public).is_none());
}

#[tokio::test]
async fn typing_wakes_syncers_and_expires() {
    let server = Arc::new(TestServer::start().await);
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    let room = server.create_room(&alice, json!({ "preset": "public_chat" })).await;
    server.join(&bob, &room).await.ok();
    let since = server.sync(&bob, None, 0, None).await["next_batch"]
        .as_str()
        .expect("token")
        .to_owned();
    let waiter = {
        let (server, bob, since) = (server.clone(), bob.clone(), since.clone());
        tokio::spawn(async move { server.sync(&bob, Some(&since), 10_000, None).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let path = format!("/_matrix/client/v3/rooms/{room}/typing/{}", alice.user_id);
    server
        .put(&path, Some(&alice.token), json!({ "typing": true, "timeout": 1000 }))
        .await
        .ok();
    let woken = waiter.await.expect("sync task");
    let typing = &woken["rooms"]["join"][&room]["ephemeral"]["events"];
    let event = typing
        .as_array()
        .and_then(|events| events.iter().find(|e| e["type"] == "m.typing"))
        .expect("m.typing");
    assert_eq!(event["content"]["user_ids"], json!([alice.user_id]));
    // The timeout passes: the next sync says nobody is typing.
    let since = woken["next_batch"].as_str().expect("token").to_owned();
    let expired = server.sync(&bob, Some(&since), 5_000, None).await;
    let event = expired["rooms"]["join"][&room]["ephemeral"]["events"]
        .as_array()
        .and_then(|events| events.iter().find(|e| e["type"] == "m.typing").cloned())
        .expect("typing stopped is announced");
    assert_eq!(event["content"]["user_ids"], json!([]));
    // Only for yourself.
    let other = format!("/_matrix/client/v3/rooms/{room}/typing/{}", bob.user_id);
    server
        .put(&other, Some(&alice.token), json!({ "typing": true, "timeout": 1000 }))
        .await
        .assert_error(403, "M_FORBIDDEN");
}

#[tokio::test]
async fn presence_is_set_by_syncing_and_explicitly_and_shown_to_room_mates() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    let carol = server.register("carol", "pw-carol-1").await;
    let room = server.create_room(&alice, json!({ "preset": "public_chat" })).await;
    server.join(&bob, &room).await.ok();
    // Syncing marks alice online; bob sees it.
    server.sync(&alice, None, 0, None).await;
    let initial = server.sync(&bob, None, 0, None).await;
    let alice_presence = initial["presence"]["events"]
        .as_array()
        .and_then(|events| events.iter().find(|e| e["sender"] == json!(alice.user_id)).cloned())
        .expect("alice's presence");
    assert_eq!(alice_presence["content"]["presence"], "online");
    assert_eq!(alice_presence["content"]["currently_active"], true);
    let since = initial["next_batch"].as_str().expect("token").to_owned();

    let path = format!("/_matrix/client/v3/presence/{}/status", alice.user_id);
    server
        .put(
            &path,
            Some(&alice.token),
            json!({ "presence": "unavailable", "status_msg": "in a meeting" }),
        )
        .await
        .ok();
    let changed = server.sync(&bob, Some(&since), 0, Some(json!({}))).await;
    let event = changed["presence"]["events"]
        .as_array()
        .and_then(|events| events.iter().find(|e| e["sender"] == json!(alice.user_id)).cloned())
        .expect("the change reaches bob");
    assert_eq!(
        (
            event["content"]["presence"].as_str(),
            event["content"]["status_msg"].as_str()
        ),
        (Some("unavailable"), Some("in a meeting"))
    );
    let read = server.get(&path, Some(&bob.token)).await.ok();
    assert_eq!(read["presence"], "unavailable");
    // Carol shares no room with alice.
    server
        .get(&path, Some(&carol.token))
        .await
        .assert_error(403, "M_FORBIDDEN");
    server
        .put(&path, Some(&bob.token), json!({ "presence": "online" }))
        .await
        .assert_error(403, "M_FORBIDDEN");
    // set_presence=offline leaves presence unchanged.
    server
        .get(
            "/_matrix/client/v3/sync?set_presence=offline&timeout=0",
            Some(&alice.token),
        )
        .await
        .ok();
    assert_eq!(
        server.get(&path, Some(&alice.token)).await.ok()["presence"],
        "unavailable"
    );
}

#[tokio::test]
async fn restart_right_after_typing_releases_the_database() {
    let mut server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let room = server.create_room(&alice, json!({})).await;
    let path = format!("/_matrix/client/v3/rooms/{room}/typing/{}", alice.user_id);
    server
        .put(&path, Some(&alice.token), json!({ "typing": true, "timeout": 30000 }))
        .await
        .ok();
    // A pending typing timer must not keep the database locked.
    server.restart().await;
    server
        .get("/_matrix/client/v3/account/whoami", Some(&alice.token))
        .await
        .ok();
}
