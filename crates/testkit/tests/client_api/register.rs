//! Registration: availability, UIA flows per registration mode, username rules,
//! registration tokens, and Synapse-compatible shared-secret registration.

use accord_core::config::RegistrationMode;
use accord_testkit::{SHARED_SECRET, TestServer};
use serde_json::{Value, json};

const REGISTER: &str = "/_matrix/client/v3/register";

#[tokio::test]
async fn availability_reports_valid_invalid_and_taken_names() {
    let server = TestServer::start().await;
    let body = server
        .get("/_matrix/client/v3/register/available?username=alice", None)
        .await
        .ok();
    assert_eq!(body["available"], json!(true));
    server
        .get("/_matrix/client/v3/register/available?username=Bad%20Name", None)
        .await
        .assert_error(400, "M_INVALID_USERNAME");
    server.register("alice", "password-1").await;
    server
        .get("/_matrix/client/v3/register/available?username=alice", None)
        .await
        .assert_error(400, "M_USER_IN_USE");
}

#[tokio::test]
async fn closed_registration_refuses_and_availability_says_so() {
    let server = TestServer::start_with(|c| c.registration.mode = RegistrationMode::Closed).await;
    let reply = server
        .post(REGISTER, None, json!({ "username": "bob", "password": "pw-123456" }))
        .await;
    reply.assert_error(403, "M_FORBIDDEN");
    server
        .get("/_matrix/client/v3/register/available?username=bob", None)
        .await
        .assert_error(403, "M_FORBIDDEN");
}

#[tokio::test]
async fn open_registration_runs_the_dummy_uia_flow() {
    let server = TestServer::start().await;
    // First call: 401 with a session and the flows.
    let reply = server
        .post(REGISTER, None, json!({ "username": "carol", "password": "pw-123456" }))
        .await;
    assert_eq!(reply.status, 401, "{}", reply.body);
    assert_eq!(reply.body["flows"], json!([{ "stages": ["m.login.dummy"] }]));
    let session = reply.body["session"].as_str().expect("session").to_owned();
    assert!(
        reply.body.get("completed").is_none_or(|c| c == &json!([])),
        "{}",
        reply.body
    );
    // Completing the stage registers and logs in.
    let body = json!({
        "username": "carol", "password": "pw-123456",
        "initial_device_display_name": "Carol's laptop",
        "auth": { "type": "m.login.dummy", "session": session },
    });
    let body = server.post(REGISTER, None, body).await.ok();
    assert_eq!(body["user_id"], json!("@carol:localhost"));
    let token = body["access_token"].as_str().expect("token");
    assert!(token.len() >= 43, "access tokens carry 256 random bits");
    let whoami = server.get("/_matrix/client/v3/account/whoami", Some(token)).await.ok();
    assert_eq!(whoami["user_id"], json!("@carol:localhost"));
    assert_eq!(whoami["device_id"], body["device_id"]);
    // The session is spent.
    let again =
        json!({ "username": "carol2", "password": "x", "auth": { "type": "m.login.dummy", "session": session } });
    server.post(REGISTER, None, again).await.assert_error(400, "M_UNKNOWN");
}

#[tokio::test]
async fn taken_and_invalid_usernames_fail_before_uia() {
    let server = TestServer::start().await;
    server.register("dave", "pw-123456").await;
    server
        .post(REGISTER, None, json!({ "username": "dave", "password": "x" }))
        .await
        .assert_error(400, "M_USER_IN_USE");
    // Capitals are lower-cased (as Synapse does): "Dave" is dave, who exists.
    server
        .post(REGISTER, None, json!({ "username": "Dave", "password": "x" }))
        .await
        .assert_error(400, "M_USER_IN_USE");
    for bad in ["da ve", "12345", ""] {
        let reply = server
            .post(REGISTER, None, json!({ "username": bad, "password": "x" }))
            .await;
        reply.assert_error(400, "M_INVALID_USERNAME");
    }
}

#[tokio::test]
async fn guests_are_refused_and_inhibit_login_returns_no_token() {
    let server = TestServer::start().await;
    let reply = server.post(&format!("{REGISTER}?kind=guest"), None, json!({})).await;
    reply.assert_error(403, "M_GUEST_ACCESS_FORBIDDEN");
    let body = json!({ "username": "erin", "password": "pw-123456", "inhibit_login": true, "auth": { "type": "m.login.dummy" } });
    let body = server.post(REGISTER, None, body).await.ok();
    assert_eq!(body["user_id"], json!("@erin:localhost"));
    assert!(body.get("access_token").is_none(), "{body}");
    server.login("erin", "pw-123456").await.ok();
}

#[tokio::test]
async fn server_picks_a_name_when_none_is_given() {
    let server = TestServer::start().await;
    let body = server
        .post(
            REGISTER,
            None,
            json!({ "password": "pw-123456", "auth": { "type": "m.login.dummy" } }),
        )
        .await
        .ok();
    let user_id = body["user_id"].as_str().expect("user id");
    assert!(user_id.starts_with('@') && user_id.ends_with(":localhost"), "{user_id}");
}

#[tokio::test]
async fn token_registration_checks_the_token() {
    let server = TestServer::start_with(|c| {
        c.registration.mode = RegistrationMode::Token;
        c.registration.tokens = vec!["letmein".to_owned()];
    })
    .await;
    let first = server
        .post(REGISTER, None, json!({ "username": "frank", "password": "pw-123456" }))
        .await;
    assert_eq!(first.status, 401);
    assert_eq!(
        first.body["flows"],
        json!([{ "stages": ["m.login.registration_token", "m.login.dummy"] }])
    );
    let session = first.body["session"].as_str().expect("session").to_owned();
    let attempt = |auth: Value| json!({ "username": "frank", "password": "pw-123456", "auth": auth });

    // A wrong token completes nothing.
    let wrong = attempt(json!({ "type": "m.login.registration_token", "token": "wrong", "session": session }));
    let reply = server.post(REGISTER, None, wrong).await;
    assert_eq!(reply.status, 401, "{}", reply.body);
    assert_eq!(reply.body["errcode"], json!("M_FORBIDDEN"));
    assert!(
        reply.body.get("completed").is_none_or(|c| c == &json!([])),
        "{}",
        reply.body
    );

    let password = attempt(json!({ "type": "m.login.password",
        "identifier": { "type": "m.id.user", "user": "x" }, "password": "x", "session": session }));
    let reply = server.post(REGISTER, None, password).await;
    assert_eq!(
        (reply.status, &reply.body["errcode"]),
        (401, &json!("M_UNRECOGNIZED")),
        "not offered: {}",
        reply.body
    );

    // The right token completes the first stage; the 401 now lists it as completed.
    let right = attempt(json!({ "type": "m.login.registration_token", "token": "letmein", "session": session }));
    let reply = server.post(REGISTER, None, right).await;
    assert_eq!(reply.status, 401, "{}", reply.body);
    assert_eq!(reply.body["completed"], json!(["m.login.registration_token"]));
    assert_eq!(reply.body["session"], json!(session));

    let dummy = attempt(json!({ "type": "m.login.dummy", "session": session }));
    assert_eq!(
        server.post(REGISTER, None, dummy).await.ok()["user_id"],
        json!("@frank:localhost")
    );

    // The dummy stage alone is not enough.
    let only_dummy = json!({ "username": "gail", "password": "pw-123456", "auth": { "type": "m.login.dummy" } });
    let reply = server.post(REGISTER, None, only_dummy).await;
    assert_eq!(reply.status, 401, "{}", reply.body);
    assert_eq!(reply.body["completed"], json!(["m.login.dummy"]));

    let validity = "/_matrix/client/v1/register/m.login.registration_token/validity";
    assert_eq!(
        server.get(&format!("{validity}?token=letmein"), None).await.ok()["valid"],
        json!(true)
    );
    assert_eq!(
        server.get(&format!("{validity}?token=nope"), None).await.ok()["valid"],
        json!(false)
    );
}

#[tokio::test]
async fn shared_secret_registration_checks_nonce_and_mac() {
    let server = TestServer::start_with(|c| c.registration.mode = RegistrationMode::Closed).await;
    let admin = server.create_user("root", "pw-123456", true).await;
    assert_eq!(admin.user_id, "@root:localhost");
    assert!(
        server
            .running()
            .services
            .accounts
            .is_admin(&ruma::UserId::parse("@root:localhost").expect("id"))
            .expect("lookup")
    );

    let nonce = server.get("/_synapse/admin/v1/register", None).await.ok()["nonce"].clone();
    let bad_mac =
        json!({ "nonce": nonce, "username": "mallory", "password": "pw", "admin": true, "mac": "00".repeat(20) });
    server
        .post("/_synapse/admin/v1/register", None, bad_mac)
        .await
        .assert_error(403, "M_FORBIDDEN");
    // The nonce was consumed by the failed attempt.
    let mac = accord_testkit_mac(&nonce, "mallory", "pw");
    let reused = json!({ "nonce": nonce, "username": "mallory", "password": "pw", "admin": false, "mac": mac });
    server
        .post("/_synapse/admin/v1/register", None, reused)
        .await
        .assert_error(400, "M_INVALID_PARAM");

    let disabled = TestServer::start_with(|c| c.registration.shared_secret = None).await;
    disabled
        .get("/_synapse/admin/v1/register", None)
        .await
        .assert_error(404, "M_NOT_FOUND");
}

fn accord_testkit_mac(nonce: &Value, user: &str, password: &str) -> String {
    accord_testkit::client_mac(SHARED_SECRET, nonce.as_str().expect("nonce"), user, password, false)
}
