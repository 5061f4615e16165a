//! Accounts as Complement and clients written against Synapse expect them (issue 12): names
//! lower-cased, bodies that aren't UTF-8 JSON refused, capabilities listed, another user's
//! credentials refused outright, avatar URLs taken as clients send them.

use accord_testkit::{TestServer, client_mac as shared_secret_mac};
use reqwest::Method;
use serde_json::json;

/// TestRegistration, TestLogin: a name with capitals registers lower-cased, through `/register`
/// and shared-secret registration, and a full user id in any case logs in.
#[tokio::test]
async fn names_with_capitals_are_lower_cased() {
    let server = TestServer::start().await;
    let reply = server
        .post(
            "/_matrix/client/v3/register",
            None,
            json!({ "username": "User-UPPER", "password": "pw-upper-1", "auth": { "type": "m.login.dummy" } }),
        )
        .await
        .ok();
    let user_id = reply["user_id"].as_str().expect("user_id").to_owned();
    assert!(user_id.starts_with("@user-upper:"), "{reply}");

    let server_name = user_id.split_once(':').map(|(_, s)| s.to_owned()).expect("server name");
    let login = server
        .login(&format!("@User-Upper:{server_name}"), "pw-upper-1")
        .await
        .ok();
    assert_eq!(login["user_id"], json!(user_id));
    let token = login["access_token"].as_str().expect("token");
    let whoami = server.get("/_matrix/client/v3/account/whoami", Some(token)).await.ok();
    assert_eq!(whoami["user_id"], json!(user_id));

    let nonce = server.get("/_synapse/admin/v1/register", None).await.ok()["nonce"]
        .as_str()
        .expect("nonce")
        .to_owned();
    let name = "User-Shared-SECRET";
    let mac = shared_secret_mac(accord_testkit::SHARED_SECRET, &nonce, name, "pw-shared-1", false);
    let created = server
        .post(
            "/_synapse/admin/v1/register",
            None,
            json!({ "nonce": nonce, "username": name, "password": "pw-shared-1", "admin": false, "mac": mac }),
        )
        .await
        .ok();
    assert_eq!(created["user_id"], json!(format!("@user-shared-secret:{server_name}")));
}

/// TestRequestEncodingFails: a body with invalid UTF-8 inside a string is not JSON: 400
/// M_NOT_JSON, before any authentication stage.
#[tokio::test]
async fn a_body_that_is_not_utf8_is_not_json() {
    let server = TestServer::start().await;
    let body = b"{ \"test\": \"a\x81\" }".to_vec();
    server
        .request_bytes(Method::POST, "/_matrix/client/v3/register", None, Some(body))
        .await
        .assert_error(400, "M_NOT_JSON");
}

/// TestServerCapabilities: `m.change_password` is listed even at its default.
#[tokio::test]
async fn capabilities_list_change_password() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let reply = server
        .get("/_matrix/client/v3/capabilities", Some(&alice.token))
        .await
        .ok();
    assert_eq!(
        reply["capabilities"]["m.change_password"]["enabled"],
        json!(true),
        "{reply}"
    );
    assert!(
        reply["capabilities"]["m.room_versions"]["default"].is_string(),
        "{reply}"
    );
    server
        .get("/_matrix/client/v3/capabilities", None)
        .await
        .assert_error(401, "M_MISSING_TOKEN");
}

/// TestDeviceManagement: deleting a device with another user's (correct) password is 403,
/// and the device stays; a wrong password of the right user is a 401 stage error.
#[tokio::test]
async fn deleting_a_device_needs_the_owners_password() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    let second = server.login("alice", "pw-alice-1").await.ok();
    let device = second["device_id"].as_str().expect("device").to_owned();
    let path = format!("/_matrix/client/v3/devices/{device}");
    let first = server.delete(&path, Some(&alice.token), Some(json!({}))).await;
    assert_eq!(first.status, 401);
    let session = first.body["session"].as_str().expect("session").to_owned();

    let wrong = server
        .delete(
            &path,
            Some(&alice.token),
            Some(json!({ "auth": {
                "type": "m.login.password", "session": session,
                "identifier": { "type": "m.id.user", "user": alice.user_id },
                "password": "not-the-password",
            } })),
        )
        .await;
    assert_eq!(wrong.status, 401, "{}", wrong.body);
    assert_eq!(wrong.body["errcode"], "M_FORBIDDEN");
    assert!(wrong.body["flows"].is_array());

    let bobs = server
        .delete(
            &path,
            Some(&alice.token),
            Some(json!({ "auth": {
                "type": "m.login.password",
                "identifier": { "type": "m.id.user", "user": bob.user_id },
                "password": bob.password,
            } })),
        )
        .await;
    assert_eq!(bobs.status, 403, "{}", bobs.body);
    server.get(&path, Some(&alice.token)).await.ok();
}

/// TestAvatarUrlUpdate: an avatar URL is stored as the client sends it (Synapse checks only its
/// length), and reaches the member events of the user's rooms; a display name change does too.
#[tokio::test]
async fn profile_changes_reach_the_users_rooms() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let room = server.create_room(&alice, json!({ "preset": "public_chat" })).await;
    let since = server.sync(&alice, None, 0, None).await["next_batch"]
        .as_str()
        .expect("token")
        .to_owned();
    let profile = format!("/_matrix/client/v3/profile/{}", alice.user_id);
    server
        .put(
            &format!("{profile}/avatar_url"),
            Some(&alice.token),
            json!({ "avatar_url": "LemurLover" }),
        )
        .await
        .ok();
    server
        .put(
            &format!("{profile}/displayname"),
            Some(&alice.token),
            json!({ "displayname": "Lemur" }),
        )
        .await
        .ok();
    let long = "x".repeat(1001);
    server
        .put(
            &format!("{profile}/avatar_url"),
            Some(&alice.token),
            json!({ "avatar_url": long }),
        )
        .await
        .assert_error(400, "M_INVALID_PARAM");

    let sync = server.sync(&alice, Some(&since), 0, None).await;
    let events = sync["rooms"]["join"][&room]["timeline"]["events"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let members: Vec<_> = events
        .iter()
        .filter(|e| e["type"] == "m.room.member" && e["state_key"] == alice.user_id.as_str())
        .collect();
    assert_eq!(members.len(), 2, "one join event per change: {sync}");
    let last = members[1];
    assert_eq!(last["content"]["membership"], "join");
    assert_eq!(last["content"]["avatar_url"], "LemurLover");
    assert_eq!(last["content"]["displayname"], "Lemur");
}

/// msc3391 TestRemovingAccountData: deleting account data (by DELETE, or by setting `{}`),
/// globally and per room: an incremental sync tells the deletion (`content: {}`), reads answer
/// 404 and an initial sync leaves it out.
#[tokio::test]
async fn account_data_can_be_deleted() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let room = server.create_room(&alice, json!({})).await;
    let user = &alice.user_id;
    let unstable = "/_matrix/client/unstable/org.matrix.msc3391";
    let scopes = [
        (
            format!("/_matrix/client/v3/user/{user}/account_data/org.example.test"),
            format!("{unstable}/user/{user}/account_data/org.example.test"),
            None,
        ),
        (
            format!("/_matrix/client/v3/user/{user}/rooms/{room}/account_data/org.example.test"),
            format!("{unstable}/user/{user}/rooms/{room}/account_data/org.example.test"),
            Some(room.clone()),
        ),
    ];
    for (path, delete_path, in_room) in &scopes {
        for by_delete in [true, false] {
            server
                .put(path, Some(&alice.token), json!({ "test_data": 1 }))
                .await
                .ok();
            let since = server.sync(&alice, None, 0, None).await["next_batch"]
                .as_str()
                .expect("token")
                .to_owned();
            if by_delete {
                server.delete(delete_path, Some(&alice.token), None).await.ok();
            } else {
                server.put(path, Some(&alice.token), json!({})).await.ok();
            }
            server
                .get(path, Some(&alice.token))
                .await
                .assert_error(404, "M_NOT_FOUND");
            let section = |sync: &serde_json::Value| match in_room {
                Some(room) => sync["rooms"]["join"][room]["account_data"]["events"].clone(),
                None => sync["account_data"]["events"].clone(),
            };
            let of_type = |events: serde_json::Value| -> Vec<serde_json::Value> {
                events
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|e| e["type"] == "org.example.test")
                    .collect()
            };
            let incremental = of_type(section(&server.sync(&alice, Some(&since), 0, None).await));
            assert_eq!(incremental.len(), 1, "{incremental:?}");
            assert_eq!(incremental[0]["content"], json!({}));
            let initial = of_type(section(&server.sync(&alice, None, 0, None).await));
            assert!(initial.is_empty(), "{initial:?}");
        }
    }
}

/// msc3890: logging a device out deletes its local notification settings.
#[tokio::test]
async fn a_devices_notification_settings_go_with_it() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let second = server.login("alice", "pw-alice-1").await.ok();
    let device = second["device_id"].as_str().expect("device");
    let token = second["access_token"].as_str().expect("token");
    let path = format!(
        "/_matrix/client/v3/user/{}/account_data/org.matrix.msc3890.local_notification_settings.{device}",
        alice.user_id
    );
    server
        .put(&path, Some(&alice.token), json!({ "is_silenced": true }))
        .await
        .ok();
    server.get(&path, Some(&alice.token)).await.ok();
    server
        .post("/_matrix/client/v3/logout", Some(token), json!({}))
        .await
        .ok();
    server
        .get(&path, Some(&alice.token))
        .await
        .assert_error(404, "M_NOT_FOUND");
}

/// TestKeyClaimOrdering (spec v1.13): one-time keys are claimed in the order they were
/// uploaded, not by key id.
#[tokio::test]
async fn one_time_keys_are_claimed_oldest_first() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    for id in ["1", "0"] {
        let key_id = format!("signed_curve25519:{id}");
        server
            .post(
                "/_matrix/client/v3/keys/upload",
                Some(&alice.token),
                json!({ "one_time_keys": { key_id: { "key": format!("key-{id}"), "signatures": {} } } }),
            )
            .await
            .ok();
    }
    for expected in ["signed_curve25519:1", "signed_curve25519:0"] {
        let claimed = server
            .post(
                "/_matrix/client/v3/keys/claim",
                Some(&bob.token),
                json!({ "one_time_keys": { alice.user_id.clone(): { alice.device_id.clone(): "signed_curve25519" } } }),
            )
            .await
            .ok();
        let keys = &claimed["one_time_keys"][&alice.user_id][&alice.device_id];
        assert!(keys.get(expected).is_some(), "{expected} expected: {claimed}");
    }
}
