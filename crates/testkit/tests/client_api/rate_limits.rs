//! `[rate_limits]`: every class refuses past its burst with 429 `M_LIMIT_EXCEEDED`, a
//! `retry_after_ms` and a `Retry-After` header, and names the setting; exempt users are not
//! limited. Each test sets one class to a slow bucket (one action per 100 s) so nothing refills
//! while it runs.

use accord_core::{Config, config::BucketConfig};
use accord_testkit::{Reply, TestServer, TestUser};
use serde_json::{Value, json};

/// `burst` actions, then one per 100 seconds.
fn slow(burst: u32) -> BucketConfig {
    BucketConfig {
        per_second: 0.01,
        burst_count: burst,
    }
}

/// A 429 of `class` that says how long to wait, in the body and the header.
#[track_caller]
fn assert_limited(reply: &Reply, class: &str) {
    reply.assert_error(429, "M_LIMIT_EXCEEDED");
    let wait = reply.body["retry_after_ms"].as_u64().unwrap_or_default();
    assert!(wait > 0 && wait <= 100_000, "retry_after_ms {wait}: {}", reply.body);
    let header: u64 = reply
        .headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_default();
    assert!((1..=100).contains(&header), "Retry-After {header}");
    let message = reply.body["error"].as_str().unwrap_or_default();
    assert!(message.contains(&format!("rate_limits.{class}")), "{message}");
}

async fn server(adjust: impl FnOnce(&mut Config)) -> TestServer {
    TestServer::start_with(adjust).await
}

async fn public_room(server: &TestServer, owner: &TestUser) -> String {
    server.create_room(owner, json!({ "preset": "public_chat" })).await
}

async fn send(server: &TestServer, user: &TestUser, room: &str, txn: &str) -> Reply {
    server
        .put(
            &format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/{txn}"),
            Some(&user.token),
            json!({ "msgtype": "m.text", "body": txn }),
        )
        .await
}

#[tokio::test]
async fn messages_are_limited_per_user_and_a_retried_transaction_is_not_counted() {
    let server = server(|c| c.rate_limits.message = slow(3)).await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    // Creating the room sends no message of the user's own (the server writes its events).
    let room = public_room(&server, &alice).await;
    server.join(&bob, &room).await.ok();
    send(&server, &alice, &room, "t1").await.ok();
    send(&server, &alice, &room, "t2").await.ok();
    let first = send(&server, &alice, &room, "t3").await.ok();
    // The same transaction again answers the same event, without counting.
    assert_eq!(send(&server, &alice, &room, "t3").await.ok(), first);
    assert_limited(&send(&server, &alice, &room, "t4").await, "message");
    // State events count too; Bob's bucket is his own.
    let topic = server
        .put(
            &format!("/_matrix/client/v3/rooms/{room}/state/m.room.topic/"),
            Some(&alice.token),
            json!({ "topic": "x" }),
        )
        .await;
    assert_limited(&topic, "message");
    send(&server, &bob, &room, "b1").await.ok();
}

#[tokio::test]
async fn moderators_redacting_others_use_admin_redaction_when_set() {
    let server = server(|c| c.rate_limits.admin_redaction = Some(slow(1))).await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    let room = public_room(&server, &alice).await;
    server.join(&bob, &room).await.ok();
    let one = server.send_text(&bob, &room, "one").await;
    let two = server.send_text(&bob, &room, "two").await;
    let redact = |event: String, txn: &'static str| {
        let (server, alice, room) = (&server, &alice, &room);
        async move {
            server
                .put(
                    &format!("/_matrix/client/v3/rooms/{room}/redact/{event}/{txn}"),
                    Some(&alice.token),
                    json!({}),
                )
                .await
        }
    };
    redact(one, "r1").await.ok();
    assert_limited(&redact(two, "r2").await, "admin_redaction");
    // Her own words are outside the moderators' bucket.
    let own = server.send_text(&alice, &room, "mine").await;
    redact(own, "r3").await.ok();
}

async fn register_reply(server: &TestServer, name: &str) -> Reply {
    server
        .post(
            "/_matrix/client/v3/register",
            None,
            json!({ "username": name, "password": "pw-123456", "auth": { "type": "m.login.dummy" } }),
        )
        .await
}

#[tokio::test]
async fn registrations_are_limited_per_address_and_count_once_per_account() {
    let server = server(|c| c.rate_limits.registration = slow(2)).await;
    // The UIA round trip (a 401 first) of one registration counts once, with its account.
    let challenge = server
        .post(
            "/_matrix/client/v3/register",
            None,
            json!({ "username": "u1", "password": "pw-123456" }),
        )
        .await;
    assert_eq!(challenge.status, 401);
    let session = challenge.body["session"].as_str().unwrap_or_default().to_owned();
    server
        .post(
            "/_matrix/client/v3/register",
            None,
            json!({ "username": "u1", "password": "pw-123456", "auth": { "type": "m.login.dummy", "session": session } }),
        )
        .await
        .ok();
    register_reply(&server, "u2").await.ok();
    assert_limited(&register_reply(&server, "u3").await, "registration");
}

#[tokio::test]
async fn registration_token_checks_are_limited_per_address() {
    let server = server(|c| {
        c.registration.mode = accord_core::config::RegistrationMode::Token;
        c.registration.tokens = vec!["letmein".to_owned()];
        c.rate_limits.registration_token_validity = slow(2);
    })
    .await;
    let check = || {
        server.get(
            "/_matrix/client/v1/register/m.login.registration_token/validity?token=guess",
            None,
        )
    };
    assert_eq!(check().await.ok(), json!({ "valid": false }));
    assert_eq!(check().await.ok(), json!({ "valid": false }));
    assert_limited(&check().await, "registration_token_validity");
}

#[tokio::test]
async fn login_attempts_are_limited_per_address() {
    let server = server(|c| c.rate_limits.login_address = slow(2)).await;
    server.create_user("alice", "pw-alice-1", false).await;
    server.create_user("bob", "pw-bob-1", false).await;
    server.login("alice", "pw-alice-1").await.ok();
    server.login("bob", "wrong").await.assert_error(403, "M_FORBIDDEN");
    assert_limited(&server.login("bob", "pw-bob-1").await, "login_address");
}

#[tokio::test]
async fn successful_logins_are_limited_per_account() {
    let server = server(|c| c.rate_limits.login_account = slow(2)).await;
    server.create_user("alice", "pw-alice-1", false).await;
    server.create_user("bob", "pw-bob-1", false).await;
    server.login("alice", "pw-alice-1").await.ok();
    // The localpart in capitals is the same account.
    server.login("@ALICE:localhost", "pw-alice-1").await.ok();
    assert_limited(&server.login("alice", "pw-alice-1").await, "login_account");
    server.login("bob", "pw-bob-1").await.ok();
}

#[tokio::test]
async fn after_failed_logins_even_the_right_password_waits() {
    let server = server(|c| c.rate_limits.login_failed_attempts = slow(2)).await;
    let alice = server.create_user("alice", "pw-alice-1", false).await;
    server.create_user("bob", "pw-bob-1", false).await;
    for _ in 0..2 {
        server.login("alice", "wrong").await.assert_error(403, "M_FORBIDDEN");
    }
    assert_limited(&server.login("alice", "pw-alice-1").await, "login_failed_attempts");
    server.login("bob", "pw-bob-1").await.ok();
    // Password confirmations (UIA) have a bucket of their own, with the same allowance.
    let delete = |password: &'static str| {
        let (server, alice) = (&server, &alice);
        async move {
            server
                .post(
                    "/_matrix/client/v3/delete_devices",
                    Some(&alice.token),
                    json!({ "devices": [], "auth": { "type": "m.login.password",
                        "identifier": { "type": "m.id.user", "user": alice.user_id }, "password": password } }),
                )
                .await
        }
    };
    for _ in 0..2 {
        assert_eq!(delete("wrong").await.status, 401);
    }
    assert_limited(&delete("pw-alice-1").await, "login_failed_attempts");
}

#[tokio::test]
async fn joins_are_limited_per_user_and_rejoins_are_not_joins() {
    let server = server(|c| c.rate_limits.joins_local = slow(1)).await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    let first = public_room(&server, &alice).await;
    let second = public_room(&server, &alice).await;
    server.join(&bob, &first).await.ok();
    server.join(&bob, &first).await.ok();
    assert_limited(&server.join(&bob, &second).await, "joins_local");
}

#[tokio::test]
async fn joins_of_one_room_are_limited_per_room() {
    let server = server(|c| c.rate_limits.joins_per_room = slow(1)).await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    let carol = server.register("carol", "pw-carol-1").await;
    let busy = public_room(&server, &alice).await;
    let quiet = public_room(&server, &alice).await;
    server.join(&bob, &busy).await.ok();
    assert_limited(&server.join(&carol, &busy).await, "joins_per_room");
    server.join(&carol, &quiet).await.ok();
}

async fn invite(server: &TestServer, inviter: &TestUser, room: &str, invitee: &TestUser) -> Reply {
    server
        .post(
            &format!("/_matrix/client/v3/rooms/{room}/invite"),
            Some(&inviter.token),
            json!({ "user_id": invitee.user_id }),
        )
        .await
}

#[tokio::test]
async fn invites_are_limited_per_room_per_inviter_and_per_invitee() {
    let server = server(|c| {
        c.rate_limits.invites_per_room = slow(2);
        c.rate_limits.invites_per_issuer = slow(3);
        c.rate_limits.invites_per_user = slow(1);
    })
    .await;
    let [alice, bob, carol, dan, erin] = [
        server.register("alice", "pw-a-123").await,
        server.register("bob", "pw-b-123").await,
        server.register("carol", "pw-c-123").await,
        server.register("dan", "pw-d-123").await,
        server.register("erin", "pw-e-123").await,
    ];
    let room = public_room(&server, &alice).await;
    let other = public_room(&server, &alice).await;
    invite(&server, &alice, &room, &bob).await.ok();
    invite(&server, &alice, &room, &carol).await.ok();
    assert_limited(&invite(&server, &alice, &room, &dan).await, "invites_per_room");
    // Bob was invited once already: a second invite of him, anywhere, waits.
    let erins = public_room(&server, &erin).await;
    assert_limited(&invite(&server, &erin, &erins, &bob).await, "invites_per_user");
    // Alice's own allowance is 3 (the invite refused for the room was not counted).
    invite(&server, &alice, &other, &erin).await.ok();
    assert_limited(&invite(&server, &alice, &other, &carol).await, "invites_per_issuer");
}

#[tokio::test]
async fn rooms_created_are_limited_per_user() {
    let server = server(|c| c.rate_limits.room_creation = slow(1)).await;
    let alice = server.register("alice", "pw-alice-1").await;
    public_room(&server, &alice).await;
    let second = server
        .post("/_matrix/client/v3/createRoom", Some(&alice.token), json!({}))
        .await;
    assert_limited(&second, "room_creation");
}

#[tokio::test]
async fn reserved_media_ids_are_limited_per_user() {
    let server = server(|c| c.rate_limits.media_create = slow(1)).await;
    let alice = server.register("alice", "pw-alice-1").await;
    let create = || server.post("/_matrix/media/v1/create", Some(&alice.token), json!({}));
    create().await.ok();
    assert_limited(&create().await, "media_create");
}

#[tokio::test]
async fn presence_reports_directory_searches_and_delayed_event_listings_are_limited() {
    let server = server(|c| {
        c.rate_limits.presence = slow(1);
        c.rate_limits.reports = slow(1);
        c.rate_limits.user_directory = slow(1);
        c.rate_limits.delayed_event_mgmt = slow(1);
    })
    .await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    let presence_path = format!("/_matrix/client/v3/presence/{}/status", alice.user_id);
    let presence = || server.put(&presence_path, Some(&alice.token), json!({ "presence": "online" }));
    presence().await.ok();
    assert_limited(&presence().await, "presence");
    let report_path = format!("/_matrix/client/v3/users/{}/report", bob.user_id);
    let report = || server.post(&report_path, Some(&alice.token), json!({ "reason": "spam" }));
    report().await.ok();
    assert_limited(&report().await, "reports");
    let search = || {
        server.post(
            "/_matrix/client/v3/user_directory/search",
            Some(&alice.token),
            json!({ "search_term": "bob" }),
        )
    };
    search().await.ok();
    assert_limited(&search().await, "user_directory");
    let listing = || {
        server.get(
            "/_matrix/client/unstable/org.matrix.msc4140/delayed_events",
            Some(&alice.token),
        )
    };
    listing().await.ok();
    assert_limited(&listing().await, "delayed_event_mgmt");
}

#[tokio::test]
async fn room_key_requests_are_limited_per_device() {
    let server = server(|c| c.rate_limits.key_requests = slow(1)).await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    let request = |txn: &'static str| {
        let (server, alice, bob) = (&server, &alice, &bob);
        async move {
            let mut messages = serde_json::Map::new();
            messages.insert(
                bob.user_id.clone(),
                json!({ "*": { "action": "request", "requesting_device_id": alice.device_id, "request_id": txn } }),
            );
            server
                .put(
                    &format!("/_matrix/client/v3/sendToDevice/m.room_key_request/{txn}"),
                    Some(&alice.token),
                    json!({ "messages": Value::Object(messages) }),
                )
                .await
        }
    };
    request("k1").await.ok();
    assert_limited(&request("k2").await, "key_requests");
}

#[tokio::test]
async fn an_admin_override_lifts_or_replaces_a_users_limits() {
    let server = server(|c| {
        c.rate_limits.message = slow(1);
        c.rate_limits.room_creation = slow(1);
    })
    .await;
    let admin = server.create_user("root", "pw-root-1", true).await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    let path = |user: &TestUser| format!("/_synapse/admin/v1/users/{}/override_ratelimit", user.user_id);
    // Not for non-admins; nothing set at first.
    server
        .get(&path(&alice), Some(&alice.token))
        .await
        .assert_error(403, "M_FORBIDDEN");
    assert_eq!(server.get(&path(&alice), Some(&admin.token)).await.ok(), json!({}));
    // Zero: no limits at all for Alice.
    let set = server.post(&path(&alice), Some(&admin.token), json!({})).await.ok();
    assert_eq!(set, json!({ "messages_per_second": 0, "burst_count": 0 }));
    let room = public_room(&server, &alice).await;
    public_room(&server, &alice).await;
    for txn in ["a1", "a2", "a3"] {
        send(&server, &alice, &room, txn).await.ok();
    }
    // Non-zero: Bob's messages get his own rate and burst.
    server
        .post(
            &path(&bob),
            Some(&admin.token),
            json!({ "messages_per_second": 1, "burst_count": 2 }),
        )
        .await
        .ok();
    server.join(&bob, &room).await.ok();
    send(&server, &bob, &room, "b1").await.ok();
    send(&server, &bob, &room, "b2").await.ok();
    let third = send(&server, &bob, &room, "b3").await;
    third.assert_error(429, "M_LIMIT_EXCEEDED");
    assert!(
        third.body["retry_after_ms"].as_u64().is_some_and(|ms| ms <= 1_000),
        "{}",
        third.body
    );
    // Bad input and unknown users; removal restores the defaults.
    server
        .post(&path(&bob), Some(&admin.token), json!({ "messages_per_second": -1 }))
        .await
        .assert_error(400, "M_INVALID_PARAM");
    server
        .get(
            "/_synapse/admin/v1/users/@ghost:localhost/override_ratelimit",
            Some(&admin.token),
        )
        .await
        .assert_error(404, "M_NOT_FOUND");
    server
        .get(
            "/_synapse/admin/v1/users/@bob:elsewhere.example/override_ratelimit",
            Some(&admin.token),
        )
        .await
        .assert_error(400, "M_INVALID_PARAM");
    assert_eq!(
        server.delete(&path(&alice), Some(&admin.token), None).await.ok(),
        json!({})
    );
    assert_eq!(server.get(&path(&alice), Some(&admin.token)).await.ok(), json!({}));
    // What she did while exempt was not counted: her allowance of one room is still there.
    public_room(&server, &alice).await;
    assert_limited(
        &server
            .post("/_matrix/client/v3/createRoom", Some(&alice.token), json!({}))
            .await,
        "room_creation",
    );
}
