//! Jump to date (`/timestamp_to_event`, client and federation): the nearest event each way,
//! 404 past either end, 403 for non-members, and, on a server that joined late, the answer of
//! the server that holds the history, fetched into the local timeline so `/context` works.
//! The behaviours Complement's TestJumpToDateEndpoint checks (bar the appservice's `ts`).

use std::time::Duration;

use accord_testkit::{TestServer, TestUser, ca::TestCa};
use ruma::api::federation::event::get_event_by_timestamp::v1 as by_ts;
use serde_json::{Value, json};

use crate::federation_support::origin;

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// A wall-clock moment strictly between events sent before and after it.
async fn moment() -> u64 {
    tokio::time::sleep(Duration::from_millis(5)).await;
    let at = now_ms();
    tokio::time::sleep(Duration::from_millis(5)).await;
    at
}

async fn jump(server: &TestServer, user: &TestUser, room: &str, ts: u64, dir: &str) -> (u16, Value) {
    let path = format!("/_matrix/client/v1/rooms/{room}/timestamp_to_event?ts={ts}&dir={dir}");
    let reply = server.get(&path, Some(&user.token)).await;
    (reply.status, reply.body)
}

#[tokio::test]
async fn the_nearest_event_each_way_and_nothing_past_the_ends() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let outsider = server.register("eve", "pw-eve-1").await;
    let before_room = moment().await;
    let room = server.create_room(&alice, json!({ "preset": "public_chat" })).await;
    let before_a = moment().await;
    let a = server.send_text(&alice, &room, "A").await;
    let between = moment().await;
    let b = server.send_text(&alice, &room, "B").await;
    let after_b = moment().await;

    let (status, found) = jump(&server, &alice, &room, before_a, "f").await;
    assert_eq!((status, found["event_id"].as_str()), (200, Some(a.as_str())), "{found}");
    assert!(found["origin_server_ts"].as_u64().is_some_and(|ts| ts >= before_a));
    let (_, found) = jump(&server, &alice, &room, between, "b").await;
    assert_eq!(found["event_id"], json!(a));
    let (_, found) = jump(&server, &alice, &room, between, "f").await;
    assert_eq!(found["event_id"], json!(b));
    let (_, found) = jump(&server, &alice, &room, after_b, "b").await;
    assert_eq!(found["event_id"], json!(b));

    for (ts, dir) in [(before_room, "b"), (after_b, "f")] {
        let (status, body) = jump(&server, &alice, &room, ts, dir).await;
        assert_eq!(
            (status, body["errcode"].as_str()),
            (404, Some("M_NOT_FOUND")),
            "{dir}: {body}"
        );
    }
    // Not in the room, even a public one: 403.
    let (status, body) = jump(&server, &outsider, &room, after_b, "b").await;
    assert_eq!((status, body["errcode"].as_str()), (403, Some("M_FORBIDDEN")), "{body}");
    // Bad parameters are the spec's 400.
    for query in ["ts=abc&dir=f", "ts=5&dir=sideways", "dir=f"] {
        let path = format!("/_matrix/client/v1/rooms/{room}/timestamp_to_event?{query}");
        let reply = server.get(&path, Some(&alice.token)).await;
        assert_eq!(reply.status, 400, "{query}: {}", reply.body);
    }
}

#[tokio::test]
async fn a_server_that_joined_late_asks_the_one_with_the_history() {
    let ca = TestCa::new();
    let a = TestServer::start_federating(&ca, |_| {}).await;
    let b = TestServer::start_federating(&ca, |_| {}).await;
    let alice = a.register("alice", "pw-alice-1").await;
    let charlie = b.register("charlie", "pw-charlie-1").await;
    let room = a
        .create_room(&alice, json!({ "preset": "public_chat", "room_alias_name": "dates" }))
        .await;
    let before_a = moment().await;
    let msg_a = a.send_text(&alice, &room, "A").await;
    let msg_b = a.send_text(&alice, &room, "B").await;
    let after_b = moment().await;
    b.join(&charlie, &format!("#dates:{}", origin(&a))).await.ok();

    // B holds nothing before Charlie's join: it asks A, and fetches the answer.
    let (status, found) = jump(&b, &charlie, &room, before_a, "f").await;
    assert_eq!(
        (status, found["event_id"].as_str()),
        (200, Some(msg_a.as_str())),
        "{found}"
    );
    let (status, found) = jump(&b, &charlie, &room, after_b, "b").await;
    assert_eq!(
        (status, found["event_id"].as_str()),
        (200, Some(msg_b.as_str())),
        "{found}"
    );
    let context = b
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/context/{msg_b}?limit=0"),
            Some(&charlie.token),
        )
        .await;
    assert_eq!(context.status, 200, "the answer was not fetched: {}", context.body);
    assert_eq!(context.body["event"]["event_id"], json!(msg_b));

    // The federation endpoint answers from the server's own timeline: asked by B, A finds A's
    // message; once the room's ACL shuts B out, A refuses.
    let room_id = ruma::OwnedRoomId::try_from(room.as_str()).expect("room id");
    let federation = b.running().services.federation.as_ref().expect("federation");
    let origin_a = origin(&a);
    let ask_a = || {
        let request = by_ts::Request::new(
            room_id.clone(),
            ruma::MilliSecondsSinceUnixEpoch(ruma::UInt::new_saturating(before_a)),
            ruma::api::Direction::Forward,
        );
        federation.client().send(&origin_a, request)
    };
    let answer = ask_a().await.expect("A answers B");
    assert_eq!(answer.event_id.as_str(), msg_a);
    let acl = a
        .put(
            &format!("/_matrix/client/v3/rooms/{room}/state/m.room.server_acl/"),
            Some(&alice.token),
            json!({ "allow": [origin(&a).as_str()], "allow_ip_literals": true }),
        )
        .await;
    assert_eq!(acl.status, 200, "{}", acl.body);
    let refused = ask_a().await.expect_err("A refuses a server its ACL denies");
    assert!(
        refused.to_string().contains("403") || refused.to_string().contains("FORBIDDEN"),
        "{refused}"
    );
}
