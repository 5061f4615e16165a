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
