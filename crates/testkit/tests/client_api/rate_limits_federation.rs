//! Rate limits across servers: `joins_remote` for users joining rooms elsewhere, and
//! `rate_limits.federation` for the requests of another server (queued, slowed, then refused).

use std::time::Duration;

use accord_core::config::{BucketConfig, FederationLimitConfig};
use accord_testkit::{TestServer, ca::TestCa};
use ruma::{UserId, api::federation::query::get_profile_information::v1 as get_profile};
use serde_json::json;

use crate::federation_support::origin;

#[tokio::test]
async fn joins_of_rooms_on_other_servers_are_limited_per_user() {
    let ca = TestCa::new();
    let a = TestServer::start_federating(&ca, |c| {
        c.rate_limits.joins_remote = BucketConfig {
            per_second: 0.01,
            burst_count: 1,
        };
    })
    .await;
    let b = TestServer::start_federating(&ca, |_| {}).await;
    let alice = a.register("alice", "pw-alice-1").await;
    let bob = b.register("bob", "pw-bob-1").await;
    for alias in ["first", "second"] {
        b.create_room(&bob, json!({ "preset": "public_chat", "room_alias_name": alias }))
            .await;
    }
    a.join(&alice, &format!("#first:{}", origin(&b))).await.ok();
    let second = a.join(&alice, &format!("#second:{}", origin(&b))).await;
    second.assert_error(429, "M_LIMIT_EXCEEDED");
    assert!(
        second.body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("rate_limits.joins_remote"),
        "{}",
        second.body
    );
    // A local room is no remote join.
    let local = a.create_room(&alice, json!({ "preset": "public_chat" })).await;
    let carol = a.register("carol", "pw-carol-1").await;
    a.join(&carol, &local).await.ok();
}

#[tokio::test]
async fn a_busy_server_is_slowed_then_refused_and_others_are_not() {
    let ca = TestCa::new();
    let a = TestServer::start_federating(&ca, |c| {
        c.rate_limits.federation = FederationLimitConfig {
            window_ms: 60_000,
            sleep_limit: 1,
            sleep_delay_ms: 3_000,
            reject_limit: 1,
            concurrent: 10,
        };
    })
    .await;
    let b = TestServer::start_federating(&ca, |_| {}).await;
    let c = TestServer::start_federating(&ca, |_| {}).await;
    let alice = a.register("alice", "pw-alice-1").await;
    let user = UserId::parse(&alice.user_id).expect("user id");
    let query = |from: &TestServer| {
        let federation = from.running().services.federation.clone().expect("federation");
        let (to, user) = (origin(&a), user.clone());
        async move { federation.client().send(&to, get_profile::Request::new(user)).await }
    };
    // The first of B's requests in the window runs at once.
    query(&b).await.expect("first query");
    // The second waits sleep_delay_ms; while it waits, a third is one too many.
    let started = std::time::Instant::now();
    let sleeping = tokio::spawn(query(&b));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let refused = query(&b).await.expect_err("third query refused");
    let text = refused.to_string();
    assert!(text.contains("429") && text.contains("M_LIMIT_EXCEEDED"), "{text}");
    // C is another server: its requests are its own.
    query(&c).await.expect("another server's query");
    sleeping.await.expect("task").expect("the slowed query still succeeds");
    assert!(
        started.elapsed() >= Duration::from_millis(2_900),
        "{:?}",
        started.elapsed()
    );
}
