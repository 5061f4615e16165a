//! Device list, get, rename and delete (UIA).

use accord_testkit::TestServer;
use serde_json::json;

#[tokio::test]
async fn list_get_and_rename_devices() {
    let server = TestServer::start().await;
    let user = server.register("quinn", "pw-123456").await;
    let body = json!({ "type": "m.login.password", "identifier": { "type": "m.id.user", "user": "quinn" },
        "password": "pw-123456", "device_id": "TABLET", "initial_device_display_name": "Tablet" });
    server.post("/_matrix/client/v3/login", None, body).await.ok();

    let list = server.get("/_matrix/client/v3/devices", Some(&user.token)).await.ok();
    let ids: Vec<&str> = list["devices"]
        .as_array()
        .expect("devices")
        .iter()
        .filter_map(|d| d["device_id"].as_str())
        .collect();
    assert!(
        ids.contains(&"TABLET") && ids.contains(&user.device_id.as_str()),
        "{list}"
    );

    let tablet = server
        .get("/_matrix/client/v3/devices/TABLET", Some(&user.token))
        .await
        .ok();
    assert_eq!(tablet["display_name"], json!("Tablet"));
    assert!(tablet["last_seen_ts"].is_u64(), "{tablet}");
    // The device making requests has its address recorded.
    let own = server
        .get(
            &format!("/_matrix/client/v3/devices/{}", user.device_id),
            Some(&user.token),
        )
        .await
        .ok();
    assert_eq!(own["last_seen_ip"], json!("127.0.0.1"), "{own}");

    server
        .put(
            "/_matrix/client/v3/devices/TABLET",
            Some(&user.token),
            json!({ "display_name": "Old tablet" }),
        )
        .await
        .ok();
    let tablet = server
        .get("/_matrix/client/v3/devices/TABLET", Some(&user.token))
        .await
        .ok();
    assert_eq!(tablet["display_name"], json!("Old tablet"));

    server
        .get("/_matrix/client/v3/devices/NOPE", Some(&user.token))
        .await
        .assert_error(404, "M_NOT_FOUND");
    server
        .put(
            "/_matrix/client/v3/devices/NOPE",
            Some(&user.token),
            json!({ "display_name": "x" }),
        )
        .await
        .assert_error(404, "M_NOT_FOUND");
}

#[tokio::test]
async fn other_users_devices_are_invisible() {
    let server = TestServer::start().await;
    let rita = server.register("rita", "pw-123456").await;
    let sam = server.register("sam", "pw-123456").await;
    let path = format!("/_matrix/client/v3/devices/{}", sam.device_id);
    server
        .get(&path, Some(&rita.token))
        .await
        .assert_error(404, "M_NOT_FOUND");
}

#[tokio::test]
async fn deleting_devices_needs_uia_and_revokes_their_tokens() {
    let server = TestServer::start().await;
    let user = server.register("tina", "pw-123456").await;
    let second = server.login("tina", "pw-123456").await.ok();
    let third = server.login("tina", "pw-123456").await.ok();
    let second_id = second["device_id"].as_str().expect("id");
    let path = format!("/_matrix/client/v3/devices/{second_id}");

    server
        .delete("/_matrix/client/v3/devices/NOPE", Some(&user.token), None)
        .await
        .assert_error(404, "M_NOT_FOUND");
    let first = server.delete(&path, Some(&user.token), None).await;
    assert_eq!(first.status, 401, "{}", first.body);
    assert_eq!(first.body["flows"], json!([{ "stages": ["m.login.password"] }]));
    let auth = json!({ "type": "m.login.password", "identifier": { "type": "m.id.user", "user": "tina" },
        "password": "pw-123456", "session": first.body["session"] });
    server
        .delete(&path, Some(&user.token), Some(json!({ "auth": auth })))
        .await
        .ok();
    server
        .get("/_matrix/client/v3/account/whoami", second["access_token"].as_str())
        .await
        .assert_error(401, "M_UNKNOWN_TOKEN");

    // Bulk delete, completing UIA without a prior session.
    let third_id = third["device_id"].as_str().expect("id");
    let auth = json!({ "type": "m.login.password", "identifier": { "type": "m.id.user", "user": "tina" }, "password": "pw-123456" });
    let body = json!({ "devices": [third_id, "UNKNOWN"], "auth": auth });
    server
        .post("/_matrix/client/v3/delete_devices", Some(&user.token), body)
        .await
        .ok();
    server
        .get("/_matrix/client/v3/account/whoami", third["access_token"].as_str())
        .await
        .assert_error(401, "M_UNKNOWN_TOKEN");
    let list = server.get("/_matrix/client/v3/devices", Some(&user.token)).await.ok();
    assert_eq!(list["devices"].as_array().map(Vec::len), Some(1), "{list}");
}
