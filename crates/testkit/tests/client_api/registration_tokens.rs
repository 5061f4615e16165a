//! Registration tokens made through Synapse's admin API: use limits counted through pending
//! and completed registrations, expiry, the validity endpoint, and bad input refused.

use accord_core::config::RegistrationMode;
use accord_testkit::{Reply, TestServer};
use serde_json::{Value, json};

const TOKENS: &str = "/_synapse/admin/v1/registration_tokens";
const REGISTER: &str = "/_matrix/client/v3/register";

async fn token_server() -> TestServer {
    TestServer::start_with(|c| c.registration.mode = RegistrationMode::Token).await
}

async fn valid(server: &TestServer, token: &str) -> Value {
    server
        .get(
            &format!("/_matrix/client/v1/register/m.login.registration_token/validity?token={token}"),
            None,
        )
        .await
        .ok()["valid"]
        .clone()
}

/// Starts a registration of `name` and passes its token stage; returns the session.
async fn token_stage(server: &TestServer, name: &str, token: &str) -> (String, Reply) {
    let first = server
        .post(REGISTER, None, json!({ "username": name, "password": "pw-123456" }))
        .await;
    let session = first.body["session"].as_str().unwrap_or_default().to_owned();
    let reply = server
        .post(
            REGISTER,
            None,
            json!({ "username": name, "password": "pw-123456",
                "auth": { "type": "m.login.registration_token", "token": token, "session": session } }),
        )
        .await;
    (session, reply)
}

async fn finish(server: &TestServer, name: &str, session: &str) -> Reply {
    server
        .post(
            REGISTER,
            None,
            json!({ "username": name, "password": "pw-123456",
                "auth": { "type": "m.login.dummy", "session": session } }),
        )
        .await
}

#[tokio::test]
async fn a_token_with_one_use_makes_one_account_and_pending_uses_count() {
    let server = token_server().await;
    let admin = server.create_user("root", "pw-root-1", true).await;
    let made = server
        .post(
            &format!("{TOKENS}/new"),
            Some(&admin.token),
            json!({ "token": "once", "uses_allowed": 1 }),
        )
        .await
        .ok();
    assert_eq!(
        made,
        json!({ "token": "once", "uses_allowed": 1, "pending": 0, "completed": 0, "expiry_time": null })
    );
    assert_eq!(valid(&server, "once").await, json!(true));

    // Alice's registration holds the one use from its token stage on.
    let (alice_session, reply) = token_stage(&server, "alice", "once").await;
    assert_eq!(
        reply.body["completed"],
        json!(["m.login.registration_token"]),
        "{}",
        reply.body
    );
    assert_eq!(valid(&server, "once").await, json!(false));
    let info = server.get(&format!("{TOKENS}/once"), Some(&admin.token)).await.ok();
    assert_eq!(
        (info["pending"].clone(), info["completed"].clone()),
        (json!(1), json!(0))
    );
    // So Bob can't pass the stage with it.
    let (_, bob) = token_stage(&server, "bob", "once").await;
    assert_eq!(bob.status, 401);
    assert_eq!(bob.errcode(), Some("M_FORBIDDEN"), "{}", bob.body);
    // Switching tokens midway is refused.
    let switch = server
        .post(
            REGISTER,
            None,
            json!({ "username": "alice", "password": "pw-123456",
                "auth": { "type": "m.login.registration_token", "token": "other", "session": alice_session } }),
        )
        .await;
    switch.assert_error(400, "M_INVALID_PARAM");

    assert_eq!(
        finish(&server, "alice", &alice_session).await.ok()["user_id"],
        json!("@alice:localhost")
    );
    let info = server.get(&format!("{TOKENS}/once"), Some(&admin.token)).await.ok();
    assert_eq!(
        (info["pending"].clone(), info["completed"].clone()),
        (json!(0), json!(1))
    );
    let listed = server
        .get(&format!("{TOKENS}?valid=false"), Some(&admin.token))
        .await
        .ok();
    assert_eq!(listed["registration_tokens"][0]["token"], json!("once"));
    let listed = server
        .get(&format!("{TOKENS}?valid=true"), Some(&admin.token))
        .await
        .ok();
    assert_eq!(listed["registration_tokens"], json!([]));

    // One more use allowed: valid again; unlimited: valid for good.
    let changed = server
        .put(
            &format!("{TOKENS}/once"),
            Some(&admin.token),
            json!({ "uses_allowed": 2 }),
        )
        .await
        .ok();
    assert_eq!(changed["uses_allowed"], json!(2));
    assert_eq!(valid(&server, "once").await, json!(true));
    server
        .put(
            &format!("{TOKENS}/once"),
            Some(&admin.token),
            json!({ "uses_allowed": null }),
        )
        .await
        .ok();
    let (session, _) = token_stage(&server, "carol", "once").await;
    finish(&server, "carol", &session).await.ok();

    server
        .delete(&format!("{TOKENS}/once"), Some(&admin.token), None)
        .await
        .ok();
    assert_eq!(valid(&server, "once").await, json!(false));
    server
        .get(&format!("{TOKENS}/once"), Some(&admin.token))
        .await
        .assert_error(404, "M_NOT_FOUND");
}

#[tokio::test]
async fn tokens_expire_and_random_ones_have_the_asked_length() {
    let server = token_server().await;
    let admin = server.create_user("root", "pw-root-1", true).await;
    let soon = accord_core::time::now_millis() + 1_500;
    server
        .post(
            &format!("{TOKENS}/new"),
            Some(&admin.token),
            json!({ "token": "brief", "expiry_time": soon }),
        )
        .await
        .ok();
    assert_eq!(valid(&server, "brief").await, json!(true));
    tokio::time::sleep(std::time::Duration::from_millis(1_700)).await;
    assert_eq!(valid(&server, "brief").await, json!(false));
    let (_, late) = token_stage(&server, "late", "brief").await;
    assert_eq!(late.status, 401, "{}", late.body);

    let random = server
        .post(&format!("{TOKENS}/new"), Some(&admin.token), json!({ "length": 24 }))
        .await
        .ok();
    let token = random["token"].as_str().unwrap_or_default();
    assert_eq!(token.len(), 24);
    assert!(
        token.bytes().all(|b| b.is_ascii_alphanumeric() || b"._~-".contains(&b)),
        "{token}"
    );
    let default = server
        .post(&format!("{TOKENS}/new"), Some(&admin.token), json!({}))
        .await
        .ok();
    assert_eq!(default["token"].as_str().map(str::len), Some(16));
}

#[tokio::test]
async fn bad_token_requests_are_refused_and_nothing_is_made() {
    let server = token_server().await;
    let admin = server.create_user("root", "pw-root-1", true).await;
    let alice = server.create_user("alice", "pw-alice-1", false).await;
    let new = format!("{TOKENS}/new");
    server
        .post(&new, Some(&alice.token), json!({ "token": "mine" }))
        .await
        .assert_error(403, "M_FORBIDDEN");
    server
        .get(TOKENS, Some(&alice.token))
        .await
        .assert_error(403, "M_FORBIDDEN");
    for bad in [
        json!({ "token": "has space" }),
        json!({ "token": "x".repeat(65) }),
        json!({ "token": 7 }),
        json!({ "uses_allowed": -1 }),
        json!({ "uses_allowed": 1.5 }),
        json!({ "expiry_time": 1_000 }),
        json!({ "length": 0 }),
        json!({ "length": 65 }),
    ] {
        server
            .post(&new, Some(&admin.token), bad.clone())
            .await
            .assert_error(400, "M_INVALID_PARAM");
    }
    server
        .post(&new, Some(&admin.token), json!({ "token": "taken" }))
        .await
        .ok();
    server
        .post(&new, Some(&admin.token), json!({ "token": "taken" }))
        .await
        .assert_error(400, "M_INVALID_PARAM");
    server
        .put(
            &format!("{TOKENS}/taken"),
            Some(&admin.token),
            json!({ "expiry_time": 5 }),
        )
        .await
        .assert_error(400, "M_INVALID_PARAM");
    server
        .put(&format!("{TOKENS}/nope"), Some(&admin.token), json!({}))
        .await
        .assert_error(404, "M_NOT_FOUND");
    server
        .get(&format!("{TOKENS}?valid=maybe"), Some(&admin.token))
        .await
        .assert_error(400, "M_INVALID_PARAM");
    let all = server.get(TOKENS, Some(&admin.token)).await.ok();
    assert_eq!(all["registration_tokens"].as_array().map(Vec::len), Some(1), "{all}");
}

#[tokio::test]
async fn the_validity_endpoint_is_forbidden_when_registration_does_not_use_tokens() {
    let server = TestServer::start().await;
    server
        .get(
            "/_matrix/client/v1/register/m.login.registration_token/validity?token=x",
            None,
        )
        .await
        .assert_error(403, "M_FORBIDDEN");
}
