//! Accounts through Synapse's admin API shape: every endpoint refuses non-admins (403) and
//! anonymous callers (401); admins list, create, change, deactivate and reset accounts, see
//! and delete their devices, log in as them for support, and shadow-ban them.

use accord_testkit::{TestServer, TestUser};
use http::Method;
use serde_json::{Value, json};

/// Every user and room endpoint of the admin API, with a body where it takes one.
fn admin_endpoints(user: &str, room: &str) -> Vec<(Method, String, Option<Value>)> {
    let users = format!("/_synapse/admin/v2/users/{user}");
    let room_path = format!("/_synapse/admin/v1/rooms/{room}");
    vec![
        (Method::GET, "/_synapse/admin/v2/users".to_owned(), None),
        (Method::GET, users.clone(), None),
        (Method::PUT, users.clone(), Some(json!({ "displayname": "x" }))),
        (
            Method::POST,
            format!("/_synapse/admin/v1/deactivate/{user}"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/_synapse/admin/v1/reset_password/{user}"),
            Some(json!({ "new_password": "pw-new-123" })),
        ),
        (Method::GET, format!("/_synapse/admin/v1/users/{user}/admin"), None),
        (
            Method::PUT,
            format!("/_synapse/admin/v1/users/{user}/admin"),
            Some(json!({ "admin": true })),
        ),
        (
            Method::POST,
            format!("/_synapse/admin/v1/users/{user}/shadow_ban"),
            Some(json!({})),
        ),
        (
            Method::DELETE,
            format!("/_synapse/admin/v1/users/{user}/shadow_ban"),
            None,
        ),
        (
            Method::GET,
            "/_synapse/admin/v1/username_available?username=zed".to_owned(),
            None,
        ),
        (Method::GET, format!("/_synapse/admin/v1/whois/{user}"), None),
        (Method::GET, format!("/_matrix/client/v3/admin/whois/{user}"), None),
        (Method::GET, format!("{users}/devices"), None),
        (
            Method::POST,
            format!("{users}/devices"),
            Some(json!({ "device_id": "NEW" })),
        ),
        (Method::GET, format!("{users}/devices/D"), None),
        (
            Method::PUT,
            format!("{users}/devices/D"),
            Some(json!({ "display_name": "d" })),
        ),
        (Method::DELETE, format!("{users}/devices/D"), None),
        (
            Method::POST,
            format!("{users}/delete_devices"),
            Some(json!({ "devices": ["D"] })),
        ),
        (
            Method::GET,
            format!("/_synapse/admin/v1/users/{user}/joined_rooms"),
            None,
        ),
        (
            Method::POST,
            format!("/_synapse/admin/v1/users/{user}/login"),
            Some(json!({})),
        ),
        (Method::GET, "/_synapse/admin/v1/rooms".to_owned(), None),
        (Method::GET, room_path.clone(), None),
        (Method::DELETE, room_path.clone(), Some(json!({ "purge": false }))),
        (Method::GET, format!("{room_path}/members"), None),
        (Method::GET, format!("{room_path}/state"), None),
        (Method::GET, format!("{room_path}/messages"), None),
        (Method::GET, format!("{room_path}/forward_extremities"), None),
        (
            Method::POST,
            format!("/_synapse/admin/v1/purge_history/{room}"),
            Some(json!({ "purge_up_to_ts": 1 })),
        ),
        (
            Method::GET,
            "/_synapse/admin/v1/purge_history_status/x".to_owned(),
            None,
        ),
        (Method::GET, format!("{room_path}/block"), None),
        (
            Method::PUT,
            format!("{room_path}/block"),
            Some(json!({ "block": true })),
        ),
        (Method::POST, format!("{room_path}/make_room_admin"), Some(json!({}))),
        (
            Method::GET,
            "/_synapse/admin/v1/federation/destinations".to_owned(),
            None,
        ),
        (
            Method::GET,
            "/_synapse/admin/v1/federation/destinations/x.example".to_owned(),
            None,
        ),
        (
            Method::GET,
            "/_synapse/admin/v1/federation/destinations/x.example/rooms".to_owned(),
            None,
        ),
        (
            Method::POST,
            "/_synapse/admin/v1/federation/destinations/x.example/reset_connection".to_owned(),
            Some(json!({})),
        ),
        (
            Method::GET,
            "/_synapse/admin/v1/statistics/users/media".to_owned(),
            None,
        ),
        (
            Method::GET,
            "/_synapse/admin/v1/statistics/database/rooms".to_owned(),
            None,
        ),
        (
            Method::POST,
            "/_accord/admin/v1/retention/run".to_owned(),
            Some(json!({})),
        ),
        (Method::GET, "/_accord/admin/v1/audit".to_owned(), None),
        (Method::GET, "/_accord/admin/v1/audit/export".to_owned(), None),
        (Method::GET, "/_accord/admin/v1/audit/verify".to_owned(), None),
    ]
}

#[tokio::test]
async fn every_admin_endpoint_refuses_non_admins_and_anonymous_callers() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-12").await;
    let room = server.create_room(&bob, json!({})).await;
    for (method, path, body) in admin_endpoints(&bob.user_id, &room) {
        let refused = server
            .request(method.clone(), &path, Some(&alice.token), body.clone())
            .await;
        assert_eq!(
            (refused.status, refused.errcode()),
            (403, Some("M_FORBIDDEN")),
            "{method} {path} as a non-admin: {:?}",
            refused.body
        );
        let anonymous = server.request(method.clone(), &path, None, body).await;
        assert_eq!(
            (anonymous.status, anonymous.errcode()),
            (401, Some("M_MISSING_TOKEN")),
            "{method} {path} without a token"
        );
    }
    // Nothing happened to Bob: still active, not an admin, not shadow-banned, room intact.
    server
        .get("/_matrix/client/v3/account/whoami", Some(&bob.token))
        .await
        .ok();
    let joined = server
        .get("/_matrix/client/v3/joined_rooms", Some(&bob.token))
        .await
        .ok();
    assert_eq!(joined["joined_rooms"], json!([room]));
    // The version needs no token, as on Synapse.
    let version = server.get("/_synapse/admin/v1/server_version", None).await.ok();
    assert!(version["server_version"].as_str().is_some_and(|v| !v.is_empty()));
}

#[tokio::test]
async fn admins_create_list_and_change_accounts() {
    let server = TestServer::start().await;
    let admin = server.create_user("root", "pw-root-1", true).await;
    let path = "/_synapse/admin/v2/users/@carol:localhost";
    let created = server
        .put(
            path,
            Some(&admin.token),
            json!({ "password": "pw-carol-1", "displayname": "Carol", "user_type": "bot" }),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.body["name"], "@carol:localhost");
    assert_eq!(created.body["displayname"], "Carol");
    assert_eq!(created.body["user_type"], "bot");
    assert_eq!(created.body["admin"], false);
    let carol = server.login("carol", "pw-carol-1").await.ok();
    let carol_token = carol["access_token"].as_str().expect("token").to_owned();

    // A change answers 200; the password change logs Carol's devices out by default.
    let changed = server
        .put(
            path,
            Some(&admin.token),
            json!({ "password": "pw-carol-2", "admin": true, "avatar_url": "mxc://localhost/a", "user_type": null }),
        )
        .await;
    assert_eq!(changed.status, 200, "{:?}", changed.body);
    assert_eq!(
        (changed.body["admin"].clone(), changed.body["user_type"].clone()),
        (json!(true), Value::Null)
    );
    assert_eq!(changed.body["avatar_url"], "mxc://localhost/a");
    server
        .get("/_matrix/client/v3/account/whoami", Some(&carol_token))
        .await
        .assert_error(401, "M_UNKNOWN_TOKEN");
    server.login("carol", "pw-carol-2").await.ok();

    // Bad requests get Synapse's errcodes and change nothing.
    for (body, errcode) in [
        (json!({ "user_type": "robot" }), "M_INVALID_PARAM"),
        (
            json!({ "threepids": [{ "medium": "email", "address": "c@x" }] }),
            "M_INVALID_PARAM",
        ),
        (json!({ "deactivated": true, "locked": true }), "M_INVALID_PARAM"),
        (json!({ "admin": "yes" }), "M_BAD_JSON"),
    ] {
        server
            .put(path, Some(&admin.token), body)
            .await
            .assert_error(400, errcode);
    }
    server
        .request_bytes(Method::PUT, path, Some(&admin.token), Some(b"{not json".to_vec()))
        .await
        .assert_error(400, "M_NOT_JSON");
    server
        .put(
            "/_synapse/admin/v2/users/@root:localhost",
            Some(&admin.token),
            json!({ "admin": false }),
        )
        .await
        .assert_error(400, "M_INVALID_PARAM");
    server
        .put(
            "/_synapse/admin/v2/users/@x:elsewhere.example",
            Some(&admin.token),
            json!({}),
        )
        .await
        .assert_error(400, "M_INVALID_PARAM");
    server
        .get("/_synapse/admin/v2/users/@nobody:localhost", Some(&admin.token))
        .await
        .assert_error(404, "M_NOT_FOUND");
    let still = server.get(path, Some(&admin.token)).await.ok();
    assert_eq!(still["admin"], true);

    // The list: filtered, ordered, paged with next_token, counted.
    for name in ["dave", "erin", "frank"] {
        server.register(name, "pw-user-123").await;
    }
    let page = server
        .get("/_synapse/admin/v2/users?limit=2", Some(&admin.token))
        .await
        .ok();
    assert_eq!(page["total"], 5);
    let names: Vec<&str> = page["users"]
        .as_array()
        .expect("users")
        .iter()
        .filter_map(|user| user["name"].as_str())
        .collect();
    assert_eq!(names, ["@carol:localhost", "@dave:localhost"]);
    assert_eq!(page["next_token"], "2");
    let rest = server
        .get("/_synapse/admin/v2/users?limit=2&from=4", Some(&admin.token))
        .await
        .ok();
    assert_eq!(rest["users"][0]["name"], "@root:localhost");
    assert!(rest.get("next_token").is_none());
    let admins = server
        .get("/_synapse/admin/v2/users?admins=true&dir=b", Some(&admin.token))
        .await
        .ok();
    let names: Vec<&str> = admins["users"]
        .as_array()
        .expect("users")
        .iter()
        .filter_map(|user| user["name"].as_str())
        .collect();
    assert_eq!(names, ["@root:localhost", "@carol:localhost"]);
    let by_name = server
        .get("/_synapse/admin/v2/users?name=Carol", Some(&admin.token))
        .await
        .ok();
    assert_eq!(by_name["total"], 1);
    server
        .get("/_synapse/admin/v2/users?order_by=shoe_size", Some(&admin.token))
        .await
        .assert_error(400, "M_INVALID_PARAM");

    // The admin flag endpoint and username availability.
    let flag = server
        .get("/_synapse/admin/v1/users/@dave:localhost/admin", Some(&admin.token))
        .await
        .ok();
    assert_eq!(flag, json!({ "admin": false }));
    server
        .put(
            "/_synapse/admin/v1/users/@dave:localhost/admin",
            Some(&admin.token),
            json!({ "admin": true }),
        )
        .await
        .ok();
    assert_eq!(
        server
            .get("/_synapse/admin/v1/users/@dave:localhost/admin", Some(&admin.token))
            .await
            .ok(),
        json!({ "admin": true })
    );
    let free = server
        .get("/_synapse/admin/v1/username_available?username=zed", Some(&admin.token))
        .await
        .ok();
    assert_eq!(free, json!({ "available": true }));
    server
        .get(
            "/_synapse/admin/v1/username_available?username=dave",
            Some(&admin.token),
        )
        .await
        .assert_error(400, "M_USER_IN_USE");
}

#[tokio::test]
async fn admins_reset_passwords_and_deactivate_accounts() {
    let server = TestServer::start().await;
    let admin = server.create_user("root", "pw-root-1", true).await;
    let alice = server.register("alice", "pw-alice-1").await;
    server
        .post(
            "/_synapse/admin/v1/reset_password/@alice:localhost",
            Some(&admin.token),
            json!({}),
        )
        .await
        .assert_error(400, "M_MISSING_PARAM");
    server
        .post(
            "/_synapse/admin/v1/reset_password/@alice:localhost",
            Some(&admin.token),
            json!({ "new_password": "pw-alice-2" }),
        )
        .await
        .ok();
    server
        .get("/_matrix/client/v3/account/whoami", Some(&alice.token))
        .await
        .assert_error(401, "M_UNKNOWN_TOKEN");
    server
        .login("alice", "pw-alice-1")
        .await
        .assert_error(403, "M_FORBIDDEN");
    let again = server.login("alice", "pw-alice-2").await.ok();

    let gone = server
        .post(
            "/_synapse/admin/v1/deactivate/@alice:localhost",
            Some(&admin.token),
            json!({ "erase": true }),
        )
        .await
        .ok();
    assert_eq!(gone, json!({ "id_server_unbind_result": "success" }));
    let token = again["access_token"].as_str().expect("token");
    server
        .get("/_matrix/client/v3/account/whoami", Some(token))
        .await
        .assert_error(401, "M_UNKNOWN_TOKEN");
    server
        .login("alice", "pw-alice-2")
        .await
        .assert_error(403, "M_FORBIDDEN");
    let shown = server
        .get("/_synapse/admin/v2/users/@alice:localhost", Some(&admin.token))
        .await
        .ok();
    assert_eq!(
        (shown["deactivated"].clone(), shown["erased"].clone()),
        (json!(true), json!(true))
    );
    assert_eq!(shown["displayname"], Value::Null);
    let listed = server.get("/_synapse/admin/v2/users", Some(&admin.token)).await.ok();
    assert_eq!(listed["total"], 1, "deactivated accounts are left out by default");
    let with = server
        .get("/_synapse/admin/v2/users?deactivated=true", Some(&admin.token))
        .await
        .ok();
    assert_eq!(with["total"], 2);
    server
        .post(
            "/_synapse/admin/v1/deactivate/@ghost:localhost",
            Some(&admin.token),
            json!({}),
        )
        .await
        .assert_error(404, "M_NOT_FOUND");
    server
        .post(
            "/_synapse/admin/v1/deactivate/@alice:localhost",
            Some(&admin.token),
            json!({ "erase": "yes" }),
        )
        .await
        .assert_error(400, "M_BAD_JSON");
}

async fn device_ids(server: &TestServer, admin: &TestUser, user: &str) -> Vec<String> {
    let devices = server
        .get(&format!("/_synapse/admin/v2/users/{user}/devices"), Some(&admin.token))
        .await
        .ok();
    let mut ids: Vec<String> = devices["devices"]
        .as_array()
        .expect("devices")
        .iter()
        .filter_map(|device| device["device_id"].as_str().map(str::to_owned))
        .collect();
    ids.sort();
    assert_eq!(devices["total"], ids.len());
    ids
}

#[tokio::test]
async fn admins_manage_devices_see_whois_and_log_in_as_users() {
    let server = TestServer::start().await;
    let admin = server.create_user("root", "pw-root-1", true).await;
    let alice = server.register("alice", "pw-alice-1").await;
    let second = server.login("alice", "pw-alice-1").await.ok();
    let second_device = second["device_id"].as_str().expect("device").to_owned();
    let user = &alice.user_id;
    let devices = format!("/_synapse/admin/v2/users/{user}/devices");
    let mut expected = vec![alice.device_id.clone(), second_device.clone()];
    expected.sort();
    assert_eq!(device_ids(&server, &admin, user).await, expected);

    server
        .get("/_matrix/client/v3/account/whoami", Some(&alice.token))
        .await
        .ok();
    // whois: each device with its last address.
    let whois = server
        .get(&format!("/_synapse/admin/v1/whois/{user}"), Some(&admin.token))
        .await
        .ok();
    assert_eq!(whois["user_id"], *user);
    let connection = &whois["devices"][&alice.device_id]["sessions"][0]["connections"][0];
    assert_eq!(connection["ip"], "127.0.0.1");
    assert!(connection["last_seen"].as_u64().is_some());

    // Rename, read, create (201, no tokens), delete one, delete several.
    let one = format!("{devices}/{second_device}");
    server
        .put(&one, Some(&admin.token), json!({ "display_name": "Work laptop" }))
        .await
        .ok();
    let read = server.get(&one, Some(&admin.token)).await.ok();
    assert_eq!(read["display_name"], "Work laptop");
    assert_eq!(read["user_id"], *user);
    let made = server
        .post(&devices, Some(&admin.token), json!({ "device_id": "BRIDGE" }))
        .await;
    assert_eq!(made.status, 201);
    server
        .post(&devices, Some(&admin.token), json!({}))
        .await
        .assert_error(400, "M_MISSING_PARAM");
    server.delete(&one, Some(&admin.token), Some(json!({}))).await.ok();
    let token = second["access_token"].as_str().expect("token");
    server
        .get("/_matrix/client/v3/account/whoami", Some(token))
        .await
        .assert_error(401, "M_UNKNOWN_TOKEN");
    let mut left = vec![alice.device_id.clone(), "BRIDGE".to_owned()];
    left.sort();
    assert_eq!(device_ids(&server, &admin, user).await, left);
    server
        .post(
            &format!("/_synapse/admin/v2/users/{user}/delete_devices"),
            Some(&admin.token),
            json!({ "devices": ["BRIDGE", "NOT-THERE"] }),
        )
        .await
        .ok();
    assert_eq!(
        device_ids(&server, &admin, user).await,
        std::slice::from_ref(&alice.device_id)
    );
    server
        .get(&format!("{devices}/NOT-THERE"), Some(&admin.token))
        .await
        .assert_error(404, "M_NOT_FOUND");

    // Login as: a token on a device of its own the user can see, never for oneself.
    let login_as = format!("/_synapse/admin/v1/users/{user}/login");
    let support = server.post(&login_as, Some(&admin.token), json!({})).await.ok();
    let support_token = support["access_token"].as_str().expect("token");
    let whoami = server
        .get("/_matrix/client/v3/account/whoami", Some(support_token))
        .await
        .ok();
    assert_eq!(whoami["user_id"], *user);
    let seen = server.get("/_matrix/client/v3/devices", Some(&alice.token)).await.ok();
    let named = seen["devices"]
        .as_array()
        .expect("devices")
        .iter()
        .any(|device| device["display_name"] == "Admin login by @root:localhost");
    assert!(named, "the support session is visible to the user: {seen}");
    server
        .post(
            "/_synapse/admin/v1/users/@root:localhost/login",
            Some(&admin.token),
            json!({}),
        )
        .await
        .assert_error(400, "M_INVALID_PARAM");
    server
        .post(&login_as, Some(&admin.token), json!({ "valid_until_ms": 1 }))
        .await
        .assert_error(400, "M_INVALID_PARAM");

    // Joined rooms.
    let room = server.create_room(&alice, json!({})).await;
    let joined = server
        .get(
            &format!("/_synapse/admin/v1/users/{user}/joined_rooms"),
            Some(&admin.token),
        )
        .await
        .ok();
    assert_eq!(joined, json!({ "total": 1, "joined_rooms": [room] }));
}

#[tokio::test]
async fn shadow_banned_users_are_answered_but_reach_nobody() {
    let server = TestServer::start().await;
    let admin = server.create_user("root", "pw-root-1", true).await;
    let alice = server.register("alice", "pw-alice-1").await;
    let spammer = server.register("spammer", "pw-spam-12").await;
    let room = server.create_room(&alice, json!({ "preset": "public_chat" })).await;
    server.join(&spammer, &room).await.ok();
    let ban = format!("/_synapse/admin/v1/users/{}/shadow_ban", spammer.user_id);
    assert_eq!(server.post(&ban, Some(&admin.token), json!({})).await.ok(), json!({}));
    let shown = server
        .get(
            &format!("/_synapse/admin/v2/users/{}", spammer.user_id),
            Some(&admin.token),
        )
        .await
        .ok();
    assert_eq!(shown["shadow_banned"], true);

    let fake = server.send_text(&spammer, &room, "buy now").await;
    assert!(fake.starts_with('$'));
    let topic = server
        .put(
            &format!("/_matrix/client/v3/rooms/{room}/state/m.room.topic/"),
            Some(&spammer.token),
            json!({ "topic": "spam" }),
        )
        .await
        .ok();
    assert!(topic["event_id"].as_str().is_some());
    let messages = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=50"),
            Some(&alice.token),
        )
        .await
        .ok();
    let text = messages.to_string();
    assert!(!text.contains("buy now") && !text.contains("\"spam\""), "{text}");
    server
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/event/{fake}"),
            Some(&alice.token),
        )
        .await
        .assert_error(404, "M_NOT_FOUND");

    // Lifted: messages arrive again.
    server.delete(&ban, Some(&admin.token), None).await.ok();
    let real = server.send_text(&spammer, &room, "sorry").await;
    server
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/event/{real}"),
            Some(&alice.token),
        )
        .await
        .ok();
}
