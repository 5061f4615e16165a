//! Login flows, password login, refresh tokens and logout.

use accord_testkit::TestServer;
use serde_json::json;

#[tokio::test]
async fn login_flows_offer_password() {
    let server = TestServer::start().await;
    let body = server.get("/_matrix/client/v3/login", None).await.ok();
    // The application service login is always listed, as Synapse lists it.
    assert_eq!(
        body["flows"],
        json!([{ "type": "m.login.password" }, { "type": "m.login.application_service" }])
    );
}

#[tokio::test]
async fn password_login_by_localpart_full_id_and_capitals() {
    let server = TestServer::start().await;
    server.register("gina", "pw-123456").await;
    for name in ["gina", "@gina:localhost", "GINA"] {
        let body = server.login(name, "pw-123456").await.ok();
        assert_eq!(body["user_id"], json!("@gina:localhost"), "login as {name}");
        assert!(body["device_id"].is_string() && body["access_token"].is_string());
    }
}

#[tokio::test]
async fn wrong_password_and_unknown_user_are_403_forbidden() {
    let server = TestServer::start().await;
    server.register("hank", "pw-123456").await;
    server.login("hank", "wrong").await.assert_error(403, "M_FORBIDDEN");
    server
        .login("nobody", "pw-123456")
        .await
        .assert_error(403, "M_FORBIDDEN");
    server
        .login("@hank:elsewhere.example", "pw-123456")
        .await
        .assert_error(403, "M_FORBIDDEN");
    // A login token nobody issued is 403 (spec); a login type the server lacks is 400.
    server
        .post(
            "/_matrix/client/v3/login",
            None,
            json!({ "type": "m.login.token", "token": "x" }),
        )
        .await
        .assert_error(403, "M_FORBIDDEN");
    let reply = server
        .post(
            "/_matrix/client/v3/login",
            None,
            json!({ "type": "org.example.unknown", "secret": "x" }),
        )
        .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
}

#[tokio::test]
async fn login_with_existing_device_id_replaces_its_token() {
    let server = TestServer::start().await;
    server.register("ivy", "pw-123456").await;
    let body = json!({ "type": "m.login.password", "identifier": { "type": "m.id.user", "user": "ivy" },
        "password": "pw-123456", "device_id": "PHONE", "initial_device_display_name": "Ivy's phone" });
    let first = server.post("/_matrix/client/v3/login", None, body.clone()).await.ok();
    let second = server.post("/_matrix/client/v3/login", None, body).await.ok();
    assert_eq!(first["device_id"], json!("PHONE"));
    assert_eq!(second["device_id"], json!("PHONE"));
    let old = first["access_token"].as_str().expect("token");
    server
        .get("/_matrix/client/v3/account/whoami", Some(old))
        .await
        .assert_error(401, "M_UNKNOWN_TOKEN");
    let new = second["access_token"].as_str().expect("token");
    server.get("/_matrix/client/v3/account/whoami", Some(new)).await.ok();
}

#[tokio::test]
async fn refresh_tokens_rotate_and_expired_tokens_soft_logout() {
    let server = TestServer::start_with(|c| c.login.refreshable_access_token_lifetime_secs = 1).await;
    server.register("jack", "pw-123456").await;
    let body = json!({ "type": "m.login.password", "identifier": { "type": "m.id.user", "user": "jack" },
        "password": "pw-123456", "refresh_token": true });
    let login = server.post("/_matrix/client/v3/login", None, body).await.ok();
    assert_eq!(login["expires_in_ms"], json!(1000));
    let access = login["access_token"].as_str().expect("access").to_owned();
    let refresh = login["refresh_token"].as_str().expect("refresh").to_owned();
    server
        .get("/_matrix/client/v3/account/whoami", Some(&access))
        .await
        .ok();

    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let expired = server.get("/_matrix/client/v3/account/whoami", Some(&access)).await;
    expired.assert_error(401, "M_UNKNOWN_TOKEN");
    assert_eq!(expired.body["soft_logout"], json!(true));

    let refreshed = server
        .post("/_matrix/client/v3/refresh", None, json!({ "refresh_token": refresh }))
        .await
        .ok();
    let new_access = refreshed["access_token"].as_str().expect("access");
    assert_ne!(refreshed["refresh_token"], json!(refresh));
    server
        .get("/_matrix/client/v3/account/whoami", Some(new_access))
        .await
        .ok();
    // The old refresh token is spent once its successor's access token was used.
    let reply = server
        .post("/_matrix/client/v3/refresh", None, json!({ "refresh_token": refresh }))
        .await;
    reply.assert_error(401, "M_UNKNOWN_TOKEN");
}

/// A refresh answer lost on the way (a phone going through a tunnel): the client retries
/// with the same refresh token and gets tokens again; once it uses them, the old one is spent
/// (spec: "Refreshing an access token").
#[tokio::test]
async fn a_lost_refresh_answer_can_be_retried_until_the_new_tokens_are_used() {
    let server = TestServer::start().await;
    server.register("lena", "pw-123456").await;
    let body = json!({ "type": "m.login.password", "identifier": { "type": "m.id.user", "user": "lena" },
        "password": "pw-123456", "refresh_token": true });
    let login = server.post("/_matrix/client/v3/login", None, body).await.ok();
    let first_refresh = login["refresh_token"].as_str().expect("refresh").to_owned();
    let refresh = |token: String| {
        let server = &server;
        async move {
            server
                .post("/_matrix/client/v3/refresh", None, json!({ "refresh_token": token }))
                .await
        }
    };
    let whoami = |token: String| {
        let server = &server;
        async move {
            server
                .get("/_matrix/client/v3/account/whoami", Some(&token))
                .await
                .status
        }
    };
    // The answer of this refresh never arrives ...
    let lost = refresh(first_refresh.clone()).await.ok();
    // ... so the client tries again with the token it still has.
    let retried = refresh(first_refresh.clone()).await.ok();
    let lost_access = lost["access_token"].as_str().unwrap_or_default().to_owned();
    let access = retried["access_token"].as_str().unwrap_or_default().to_owned();
    assert_eq!(whoami(lost_access).await, 401, "the lost answer's tokens were replaced");
    assert_eq!(whoami(access).await, 200);
    // Its new tokens are in use: the first refresh token is spent; the new one works.
    refresh(first_refresh).await.assert_error(401, "M_UNKNOWN_TOKEN");
    let next = retried["refresh_token"].as_str().unwrap_or_default().to_owned();
    refresh(next).await.ok();
}

#[tokio::test]
async fn logout_revokes_one_device_and_logout_all_every_device() {
    let server = TestServer::start().await;
    let user = server.register("kim", "pw-123456").await;
    let second = server.login("kim", "pw-123456").await.ok();
    let third = server.login("kim", "pw-123456").await.ok();

    server
        .post("/_matrix/client/v3/logout", Some(&user.token), json!({}))
        .await
        .ok();
    server
        .get("/_matrix/client/v3/account/whoami", Some(&user.token))
        .await
        .assert_error(401, "M_UNKNOWN_TOKEN");
    let second_token = second["access_token"].as_str().expect("token");
    let devices = server.get("/_matrix/client/v3/devices", Some(second_token)).await.ok();
    assert_eq!(
        devices["devices"].as_array().map(Vec::len),
        Some(2),
        "logout deletes the device: {devices}"
    );

    server
        .post("/_matrix/client/v3/logout/all", Some(second_token), json!({}))
        .await
        .ok();
    for token in [second_token, third["access_token"].as_str().expect("token")] {
        server
            .get("/_matrix/client/v3/account/whoami", Some(token))
            .await
            .assert_error(401, "M_UNKNOWN_TOKEN");
    }
    let fresh = server.login("kim", "pw-123456").await.ok();
    let devices = server
        .get("/_matrix/client/v3/devices", fresh["access_token"].as_str())
        .await
        .ok();
    assert_eq!(devices["devices"].as_array().map(Vec::len), Some(1));
}
