//! Account data (global and per room), room tags and filters.

use accord_testkit::TestServer;
use serde_json::json;

#[tokio::test]
async fn global_and_room_account_data_round_trip() {
    let server = TestServer::start().await;
    let user = server.register("xena", "pw-123456").await;
    let global = format!(
        "/_matrix/client/v3/user/{}/account_data/org.example.settings",
        user.user_id
    );
    server
        .get(&global, Some(&user.token))
        .await
        .assert_error(404, "M_NOT_FOUND");
    server
        .put(&global, Some(&user.token), json!({ "theme": "dark" }))
        .await
        .ok();
    assert_eq!(
        server.get(&global, Some(&user.token)).await.ok(),
        json!({ "theme": "dark" })
    );

    let room = format!(
        "/_matrix/client/v3/user/{}/rooms/!room:localhost/account_data/org.example.pin",
        user.user_id
    );
    server
        .put(&room, Some(&user.token), json!({ "pinned": true }))
        .await
        .ok();
    assert_eq!(
        server.get(&room, Some(&user.token)).await.ok(),
        json!({ "pinned": true })
    );
    // Room scope and global scope are separate.
    let global_same_type = format!("/_matrix/client/v3/user/{}/account_data/org.example.pin", user.user_id);
    server
        .get(&global_same_type, Some(&user.token))
        .await
        .assert_error(404, "M_NOT_FOUND");
}

#[tokio::test]
async fn account_data_errors() {
    let server = TestServer::start().await;
    let yara = server.register("yara", "pw-123456").await;
    let zed = server.register("zed", "pw-123456").await;
    let others = format!("/_matrix/client/v3/user/{}/account_data/org.example.x", zed.user_id);
    server
        .put(&others, Some(&yara.token), json!({ "a": 1 }))
        .await
        .assert_error(403, "M_FORBIDDEN");
    server
        .get(&others, Some(&yara.token))
        .await
        .assert_error(403, "M_FORBIDDEN");

    let fully_read = format!(
        "/_matrix/client/v3/user/{}/rooms/!r:localhost/account_data/m.fully_read",
        yara.user_id
    );
    server
        .put(&fully_read, Some(&yara.token), json!({ "event_id": "$x" }))
        .await
        .assert_error(405, "M_BAD_JSON");
    let push_rules = format!("/_matrix/client/v3/user/{}/account_data/m.push_rules", yara.user_id);
    server
        .put(&push_rules, Some(&yara.token), json!({}))
        .await
        .assert_error(405, "M_BAD_JSON");
    let mine = format!("/_matrix/client/v3/user/{}/account_data/org.example.x", yara.user_id);
    server
        .put(&mine, Some(&yara.token), json!([1, 2]))
        .await
        .assert_error(400, "M_BAD_JSON");
}

#[tokio::test]
async fn room_tags_add_list_and_remove() {
    let server = TestServer::start().await;
    let user = server.register("abby", "pw-123456").await;
    let tags = format!("/_matrix/client/v3/user/{}/rooms/!r:localhost/tags", user.user_id);
    assert_eq!(server.get(&tags, Some(&user.token)).await.ok(), json!({ "tags": {} }));
    server
        .put(
            &format!("{tags}/m.favourite"),
            Some(&user.token),
            json!({ "order": 0.25 }),
        )
        .await
        .ok();
    server
        .put(&format!("{tags}/u.work"), Some(&user.token), json!({}))
        .await
        .ok();
    assert_eq!(
        server.get(&tags, Some(&user.token)).await.ok(),
        json!({ "tags": { "m.favourite": { "order": 0.25 }, "u.work": {} } })
    );
    server
        .delete(&format!("{tags}/u.work"), Some(&user.token), None)
        .await
        .ok();
    assert_eq!(
        server.get(&tags, Some(&user.token)).await.ok(),
        json!({ "tags": { "m.favourite": { "order": 0.25 } } })
    );
    // Tags are the room's m.tag account data.
    let tag_event = format!(
        "/_matrix/client/v3/user/{}/rooms/!r:localhost/account_data/m.tag",
        user.user_id
    );
    assert_eq!(
        server.get(&tag_event, Some(&user.token)).await.ok(),
        json!({ "tags": { "m.favourite": { "order": 0.25 } } })
    );
    let other = server.register("bert", "pw-123456").await;
    server
        .get(&tags, Some(&other.token))
        .await
        .assert_error(403, "M_FORBIDDEN");
}

#[tokio::test]
async fn filters_store_and_fetch() {
    let server = TestServer::start().await;
    let user = server.register("cleo", "pw-123456").await;
    let path = format!("/_matrix/client/v3/user/{}/filter", user.user_id);
    let filter = json!({ "room": { "timeline": { "limit": 10, "types": ["m.room.message"] } }, "presence": { "not_types": ["*"] } });
    let first = server.post(&path, Some(&user.token), filter.clone()).await.ok();
    let second = server.post(&path, Some(&user.token), json!({})).await.ok();
    assert_ne!(first["filter_id"], second["filter_id"]);
    let id = first["filter_id"].as_str().expect("filter id");
    let stored = server.get(&format!("{path}/{id}"), Some(&user.token)).await.ok();
    assert_eq!(stored["room"]["timeline"], filter["room"]["timeline"]);
    assert_eq!(stored["presence"]["not_types"], json!(["*"]));
    server
        .get(&format!("{path}/999"), Some(&user.token))
        .await
        .assert_error(404, "M_NOT_FOUND");
    let bad = server
        .post(
            &path,
            Some(&user.token),
            json!({ "room": { "timeline": { "limit": "ten" } } }),
        )
        .await;
    bad.assert_error(400, "M_BAD_JSON");
    let other = server.register("dina", "pw-123456").await;
    server
        .post(&path, Some(&other.token), json!({}))
        .await
        .assert_error(403, "M_FORBIDDEN");
}
