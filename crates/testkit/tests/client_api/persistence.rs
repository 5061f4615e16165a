//! Data survives a restart: accounts, devices, tokens, profile and account data.

use accord_testkit::TestServer;
use serde_json::json;

#[tokio::test]
async fn users_devices_tokens_and_account_data_survive_restart() {
    let mut server = TestServer::start().await;
    let user = server.register("gus", "pw-123456").await;
    let data = format!("/_matrix/client/v3/user/{}/account_data/org.example.kept", user.user_id);
    server.put(&data, Some(&user.token), json!({ "kept": 1 })).await.ok();
    let name = format!("/_matrix/client/v3/profile/{}/displayname", user.user_id);
    server
        .put(&name, Some(&user.token), json!({ "displayname": "Gus" }))
        .await
        .ok();

    server.restart().await;

    let whoami = server
        .get("/_matrix/client/v3/account/whoami", Some(&user.token))
        .await
        .ok();
    assert_eq!(whoami["device_id"], json!(user.device_id));
    assert_eq!(server.get(&data, Some(&user.token)).await.ok(), json!({ "kept": 1 }));
    assert_eq!(server.get(&name, None).await.ok()["displayname"], json!("Gus"));
    let devices = server.get("/_matrix/client/v3/devices", Some(&user.token)).await.ok();
    assert_eq!(devices["devices"][0]["device_id"], json!(user.device_id));
    server.login("gus", "pw-123456").await.ok();
}

#[tokio::test]
async fn a_second_server_on_the_same_database_is_refused() {
    let server = TestServer::start().await;
    let mut config = server.config.clone();
    config.client_api.bind = "127.0.0.1:0".parse().expect("addr");
    let err = accord_server::RunningServer::start(config)
        .await
        .err()
        .expect("second open must fail");
    assert!(err.to_string().contains("already in use"), "{err}");
}
