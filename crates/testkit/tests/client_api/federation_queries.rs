//! Presence, the public room directory and OpenID tokens across servers.

use std::time::Duration;

use ruma::api::federation::openid::get_openid_userinfo::v1 as get_openid_userinfo;
use serde_json::{Value, json};

use crate::federation_support::{origin, shared_room};

/// Waits until `user`'s `/sync` on `server` carries presence `status_msg` for `of`.
async fn wait_presence(
    server: &accord_testkit::TestServer,
    user: &accord_testkit::TestUser,
    of: &str,
    status: &str,
) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let sync = server.sync(user, None, 0, None).await;
        let found = sync["presence"]["events"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["sender"] == of && e["content"]["status_msg"] == status)
            .cloned();
        if let Some(event) = found {
            return event;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no presence of {of} with {status}: {sync}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn presence_reaches_users_on_the_other_server_both_ways() {
    let shared = shared_room("presence").await;
    let (a, b) = (&shared.a, &shared.b);
    a.put(
        &format!("/_matrix/client/v3/presence/{}/status", shared.alice.user_id),
        Some(&shared.alice.token),
        json!({ "presence": "online", "status_msg": "in a meeting" }),
    )
    .await
    .ok();
    let seen = wait_presence(b, &shared.bob, &shared.alice.user_id, "in a meeting").await;
    assert_eq!(seen["content"]["presence"], "online");
    b.put(
        &format!("/_matrix/client/v3/presence/{}/status", shared.bob.user_id),
        Some(&shared.bob.token),
        json!({ "presence": "unavailable", "status_msg": "away" }),
    )
    .await
    .ok();
    let seen = wait_presence(a, &shared.alice, &shared.bob.user_id, "away").await;
    assert_eq!(seen["content"]["presence"], "unavailable");
    let direct = a
        .get(
            &format!("/_matrix/client/v3/presence/{}/status", shared.bob.user_id),
            Some(&shared.alice.token),
        )
        .await
        .ok();
    assert_eq!(direct["presence"], "unavailable");
}

#[tokio::test]
async fn the_public_room_directory_of_another_server() {
    let shared = shared_room("directory").await;
    let (a, b) = (&shared.a, &shared.b);
    let published = a
        .create_room(
            &shared.alice,
            json!({ "preset": "public_chat", "visibility": "public", "name": "Interagency liaison", "room_alias_name": "liaison" }),
        )
        .await;
    let all = b
        .get(
            &format!("/_matrix/client/v3/publicRooms?server={}", origin(a)),
            Some(&shared.bob.token),
        )
        .await
        .ok();
    let ids: Vec<&str> = all["chunk"]
        .as_array()
        .expect("chunk")
        .iter()
        .filter_map(|r| r["room_id"].as_str())
        .collect();
    assert!(ids.contains(&published.as_str()), "{all}");
    assert!(
        !ids.contains(&shared.room.as_str()),
        "unpublished rooms stay out: {all}"
    );
    let searched = b
        .post(
            &format!("/_matrix/client/v3/publicRooms?server={}", origin(a)),
            Some(&shared.bob.token),
            json!({ "filter": { "generic_search_term": "liaison" }, "limit": 5 }),
        )
        .await
        .ok();
    assert_eq!(searched["chunk"][0]["room_id"], json!(published), "{searched}");
    assert_eq!(searched["chunk"][0]["name"], "Interagency liaison");
    let none = b
        .post(
            &format!("/_matrix/client/v3/publicRooms?server={}", origin(a)),
            Some(&shared.bob.token),
            json!({ "filter": { "generic_search_term": "no such room" } }),
        )
        .await
        .ok();
    assert_eq!(none["chunk"], json!([]));
}

#[tokio::test]
async fn openid_tokens_name_their_user_to_other_servers() {
    let shared = shared_room("openid").await;
    let (a, b) = (&shared.a, &shared.b);
    let token = a
        .post(
            &format!("/_matrix/client/v3/user/{}/openid/request_token", shared.alice.user_id),
            Some(&shared.alice.token),
            json!({}),
        )
        .await
        .ok();
    assert_eq!(token["token_type"], "Bearer");
    assert_eq!(token["matrix_server_name"], json!(origin(a)));
    assert!(token["expires_in"].as_u64().is_some_and(|s| s > 0), "{token}");
    let access_token = token["access_token"].as_str().expect("token").to_owned();

    let federation = b.running().services.federation.as_ref().expect("federation");
    let info = federation
        .client()
        .send(&origin(a), get_openid_userinfo::Request::new(access_token))
        .await
        .expect("userinfo");
    assert_eq!(info.sub.as_str(), shared.alice.user_id);
    let unknown = federation
        .client()
        .send(&origin(a), get_openid_userinfo::Request::new("not-a-token".to_owned()))
        .await
        .expect_err("unknown token refused");
    assert!(
        matches!(&unknown, accord_federation::Error::Remote { status: 401, body, .. } if body.contains("M_UNKNOWN_TOKEN")),
        "{unknown}"
    );
    // Tokens are for oneself only.
    a.post(
        &format!("/_matrix/client/v3/user/{}/openid/request_token", shared.bob.user_id),
        Some(&shared.alice.token),
        json!({}),
    )
    .await
    .assert_error(403, "M_FORBIDDEN");
}
