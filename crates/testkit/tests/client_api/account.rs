//! whoami, password change and deactivation (both behind UIA with the user's password).

use accord_testkit::TestServer;
use serde_json::json;

#[tokio::test]
async fn whoami_names_user_and_device() {
    let server = TestServer::start().await;
    let user = server.register("lena", "pw-123456").await;
    let body = server
        .get("/_matrix/client/v3/account/whoami", Some(&user.token))
        .await
        .ok();
    // `is_guest: false` is the spec default and may be omitted.
    assert_eq!(body, json!({ "user_id": user.user_id, "device_id": user.device_id }));
}

#[tokio::test]
async fn change_password_needs_the_old_password_and_logs_out_other_devices() {
    let server = TestServer::start().await;
    let user = server.register("mia", "old-password").await;
    let other = server.login("mia", "old-password").await.ok();
    let path = "/_matrix/client/v3/account/password";

    let first = server
        .post(path, Some(&user.token), json!({ "new_password": "new-password" }))
        .await;
    assert_eq!(first.status, 401, "{}", first.body);
    assert_eq!(first.body["flows"], json!([{ "stages": ["m.login.password"] }]));
    let session = first.body["session"].as_str().expect("session").to_owned();

    let auth = |password: &str| {
        json!({ "type": "m.login.password", "identifier": { "type": "m.id.user", "user": "mia" },
            "password": password, "session": session })
    };
    let wrong = server
        .post(
            path,
            Some(&user.token),
            json!({ "new_password": "new-password", "auth": auth("nope") }),
        )
        .await;
    assert_eq!(wrong.status, 401, "{}", wrong.body);
    assert_eq!(wrong.body["errcode"], json!("M_FORBIDDEN"));
    // A failed stage completes nothing (ruma omits an empty `completed`).
    assert!(
        wrong.body.get("completed").is_none_or(|c| c == &json!([])),
        "{}",
        wrong.body
    );
    assert_eq!(wrong.body["session"], json!(session));

    server
        .post(
            path,
            Some(&user.token),
            json!({ "new_password": "new-password", "auth": auth("old-password") }),
        )
        .await
        .ok();
    server
        .login("mia", "old-password")
        .await
        .assert_error(403, "M_FORBIDDEN");
    server.login("mia", "new-password").await.ok();
    // The calling device stays logged in; the other one is logged out (logout_devices defaults to true).
    server
        .get("/_matrix/client/v3/account/whoami", Some(&user.token))
        .await
        .ok();
    let other_token = other["access_token"].as_str().expect("token");
    server
        .get("/_matrix/client/v3/account/whoami", Some(other_token))
        .await
        .assert_error(401, "M_UNKNOWN_TOKEN");
}

#[tokio::test]
async fn password_stage_must_name_the_caller() {
    let server = TestServer::start().await;
    let user = server.register("nina", "pw-nina-1").await;
    server.register("otto", "pw-otto-1").await;
    let auth = json!({ "type": "m.login.password", "identifier": { "type": "m.id.user", "user": "otto" }, "password": "pw-otto-1" });
    let reply = server
        .post(
            "/_matrix/client/v3/account/password",
            Some(&user.token),
            json!({ "new_password": "x", "auth": auth }),
        )
        .await;
    // Another user's credentials can't complete this session: 403, not a stage to retry.
    assert_eq!(
        (reply.status, &reply.body["errcode"]),
        (403, &json!("M_FORBIDDEN")),
        "{}",
        reply.body
    );
    server.login("otto", "pw-otto-1").await.ok();
}

#[tokio::test]
async fn deactivation_blocks_login_and_keeps_the_name_taken() {
    let server = TestServer::start().await;
    let user = server.register("paul", "pw-123456").await;
    let path = "/_matrix/client/v3/account/deactivate";
    let first = server.post(path, Some(&user.token), json!({})).await;
    assert_eq!(first.status, 401);
    let auth = json!({ "type": "m.login.password", "identifier": { "type": "m.id.user", "user": user.user_id },
        "password": "pw-123456", "session": first.body["session"] });
    let body = server.post(path, Some(&user.token), json!({ "auth": auth })).await.ok();
    assert_eq!(body["id_server_unbind_result"], json!("no-support"));
    server
        .get("/_matrix/client/v3/account/whoami", Some(&user.token))
        .await
        .assert_error(401, "M_UNKNOWN_TOKEN");
    server.login("paul", "pw-123456").await.assert_error(403, "M_FORBIDDEN");
    server
        .get("/_matrix/client/v3/register/available?username=paul", None)
        .await
        .assert_error(400, "M_USER_IN_USE");
    server
        .get("/_matrix/client/v3/profile/@paul:localhost", None)
        .await
        .assert_error(404, "M_NOT_FOUND");
}
