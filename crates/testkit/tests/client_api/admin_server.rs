//! Federation destinations and statistics through Synapse's admin API shape: the partners
//! this server shares rooms with, a failing one shown with its backoff and reset; uploads per
//! user; the largest rooms.

use std::time::Duration;

use accord_testkit::{TestServer, ca::TestCa};
use serde_json::{Value, json};

use crate::{federation_support::origin, media_support::upload};

async fn destination(server: &TestServer, token: &str, name: &str) -> Value {
    server
        .get(
            &format!("/_synapse/admin/v1/federation/destinations/{name}"),
            Some(token),
        )
        .await
        .ok()
}

#[tokio::test]
async fn destinations_list_partners_and_a_failing_one_is_reset() {
    let ca = TestCa::new();
    let a = TestServer::start_federating(&ca, |_| {}).await;
    let mut b = TestServer::start_federating(&ca, |_| {}).await;
    let b_name = origin(&b).to_string();
    let admin = a.create_user("root", "pw-root-1", true).await;
    let alice = a.register("alice", "pw-alice-1").await;
    let bob = b.register("bob", "pw-bob-12").await;
    let room = a.create_room(&alice, json!({ "preset": "public_chat" })).await;
    b.post(
        &format!("/_matrix/client/v3/join/{room}?server_name={}", origin(&a)),
        Some(&bob.token),
        json!({}),
    )
    .await
    .ok();

    let list = a
        .get("/_synapse/admin/v1/federation/destinations", Some(&admin.token))
        .await
        .ok();
    assert_eq!(list["total"], 1, "{list}");
    assert_eq!(list["destinations"][0]["destination"], b_name);
    assert_eq!(list["destinations"][0]["retry_interval"], 0);
    let rooms = a
        .get(
            &format!("/_synapse/admin/v1/federation/destinations/{b_name}/rooms"),
            Some(&admin.token),
        )
        .await
        .ok();
    assert_eq!(rooms["rooms"][0]["room_id"], room);
    let reset = format!("/_synapse/admin/v1/federation/destinations/{b_name}/reset_connection");
    a.post(&reset, Some(&admin.token), json!({}))
        .await
        .assert_error(400, "M_INVALID_PARAM");
    a.get(
        "/_synapse/admin/v1/federation/destinations/nowhere.example",
        Some(&admin.token),
    )
    .await
    .assert_error(404, "M_NOT_FOUND");

    // The partner goes down: sends to it fail and back off; an admin resets it.
    b.stop().await;
    a.send_text(&alice, &room, "while b is down").await;
    // Failing twice in a row, so a reset shows as a new streak.
    let mut failing = Value::Null;
    for _ in 0..150 {
        failing = destination(&a, &admin.token, &b_name).await;
        if failing["failures"].as_u64().is_some_and(|n| n >= 2) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(failing["failures"].as_u64().is_some_and(|n| n >= 2), "{failing}");
    assert!(failing["retry_interval"].as_u64().is_some_and(|ms| ms > 0));
    assert!(failing["queued_events"].as_u64().is_some_and(|n| n >= 1));
    a.post(&reset, Some(&admin.token), json!({})).await.ok();
    // The backoff is gone and the sender tries at once: still down, so a new streak begins
    // (one failure), or the record is still clear.
    let before = failing["failures"].as_u64().unwrap_or_default();
    let mut after = Value::Null;
    for _ in 0..50 {
        after = destination(&a, &admin.token, &b_name).await;
        if after["failures"].as_u64().is_some_and(|n| n < before) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(after["failures"].as_u64().is_some_and(|n| n < before), "{after}");
    let audit = a
        .get("/_accord/admin/v1/audit?kind=destination_reset", Some(&admin.token))
        .await
        .ok();
    assert_eq!(audit["records"][0]["target"], b_name);
}

#[tokio::test]
async fn statistics_count_uploads_per_user_and_size_rooms() {
    let server = TestServer::start().await;
    let admin = server.create_user("root", "pw-root-1", true).await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-12").await;
    upload(&server, &alice, vec![1; 1000], "application/octet-stream", None).await;
    upload(&server, &alice, vec![2; 500], "application/octet-stream", None).await;
    upload(&server, &bob, vec![3; 4000], "application/octet-stream", None).await;
    let usage = server
        .get(
            "/_synapse/admin/v1/statistics/users/media?order_by=media_length&dir=b",
            Some(&admin.token),
        )
        .await
        .ok();
    assert_eq!(usage["total"], 2);
    assert_eq!(usage["users"][0]["user_id"], bob.user_id);
    assert_eq!(usage["users"][0]["media_length"], 4000);
    assert_eq!(usage["users"][1]["media_count"], 2);
    assert_eq!(usage["users"][1]["media_length"], 1500);
    assert_eq!(usage["users"][1]["displayname"], "alice");
    let future = server
        .get(
            "/_synapse/admin/v1/statistics/users/media?from_ts=99999999999999",
            Some(&admin.token),
        )
        .await
        .ok();
    assert_eq!(future["total"], 0);
    server
        .get(
            "/_synapse/admin/v1/statistics/users/media?from_ts=10&until_ts=5",
            Some(&admin.token),
        )
        .await
        .assert_error(400, "M_INVALID_PARAM");

    let big = server.create_room(&alice, json!({})).await;
    let small = server.create_room(&bob, json!({})).await;
    for n in 0..20 {
        server
            .send_text(&alice, &big, &format!("a long message number {n} in the big room"))
            .await;
    }
    let rooms = server
        .get("/_synapse/admin/v1/statistics/database/rooms", Some(&admin.token))
        .await
        .ok();
    assert_eq!(rooms["rooms"][0]["room_id"], big);
    assert_eq!(rooms["rooms"][1]["room_id"], small);
    let sizes: Vec<u64> = rooms["rooms"]
        .as_array()
        .expect("rooms")
        .iter()
        .filter_map(|room| room["estimated_size"].as_u64())
        .collect();
    assert!(sizes[0] > sizes[1] && sizes[1] > 0, "{sizes:?}");
}
