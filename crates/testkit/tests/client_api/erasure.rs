//! Erasure (GDPR): after an admin deactivates a user with `erase`, no table, no database file,
//! no media file and no search holds their message bodies, upload or profile; the other
//! members see the events redacted; the account stays taken; the audit log says so.

use accord_testkit::{TestServer, TestUser};
use serde_json::json;

use crate::{
    media_support::upload,
    storage_scan::{files_containing, tables_containing},
};

/// A word no other data contains, unique per use.
fn marker(what: &str, n: usize) -> String {
    format!("zq{what}{n}x{:08x}", std::process::id())
}

async fn search_hits(server: &TestServer, user: &TestUser, term: &str) -> usize {
    let body = json!({ "search_categories": { "room_events": { "search_term": term } } });
    let found = server
        .post("/_matrix/client/v3/search", Some(&user.token), body)
        .await
        .ok();
    found["search_categories"]["room_events"]["results"]
        .as_array()
        .map_or(0, Vec::len)
}

#[tokio::test]
async fn an_erased_user_leaves_no_message_upload_or_profile_behind() {
    let mut server = TestServer::start().await;
    let admin = server.create_user("root", "pw-root-1", true).await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-12").await;
    let display = marker("name", 0);
    server
        .put(
            "/_matrix/client/v3/profile/@alice:localhost/displayname",
            Some(&alice.token),
            json!({ "displayname": display }),
        )
        .await
        .ok();
    let room = server.create_room(&alice, json!({ "preset": "public_chat" })).await;
    let left = server.create_room(&alice, json!({ "preset": "public_chat" })).await;
    server.join(&bob, &room).await.ok();
    server.join(&bob, &left).await.ok();
    let bodies: Vec<String> = (0..20).map(|n| marker("body", n)).collect();
    let mut sent = Vec::new();
    for body in &bodies[..15] {
        sent.push(server.send_text(&alice, &room, body).await);
    }
    for body in &bodies[15..] {
        server.send_text(&alice, &left, body).await;
    }
    // Alice left one room before the erasure: those events can only be pruned here.
    server
        .post(
            &format!("/_matrix/client/v3/rooms/{left}/leave"),
            Some(&alice.token),
            json!({}),
        )
        .await
        .ok();
    let file = marker("file", 0);
    upload(&server, &alice, file.clone().into_bytes(), "text/plain", None).await;
    server.send_text(&bob, &room, "bob stays").await;
    assert_eq!(search_hits(&server, &bob, &bodies[0]).await, 1, "indexed before");

    let erased = server
        .post(
            "/_synapse/admin/v1/deactivate/@alice:localhost",
            Some(&admin.token),
            json!({ "erase": true }),
        )
        .await
        .ok();
    assert_eq!(erased["id_server_unbind_result"], "success");

    // Bob sees Alice's messages redacted, by Alice; his own stays.
    let history = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=100"),
            Some(&bob.token),
        )
        .await
        .ok();
    let text = history.to_string();
    assert!(bodies.iter().all(|body| !text.contains(body.as_str())), "{text}");
    assert!(text.contains("bob stays"));
    for event_id in &sent {
        let event = server
            .get(
                &format!("/_matrix/client/v3/rooms/{room}/event/{event_id}"),
                Some(&bob.token),
            )
            .await
            .ok();
        assert_eq!(event["content"], json!({}), "{event}");
        assert!(event["unsigned"]["redacted_because"].is_object(), "{event}");
    }
    assert_eq!(search_hits(&server, &bob, &bodies[0]).await, 0);
    assert_eq!(search_hits(&server, &bob, &bodies[16]).await, 0);
    server
        .login("alice", "pw-alice-1")
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
    let audit = server
        .get("/_accord/admin/v1/audit?kind=user_data_erased", Some(&admin.token))
        .await
        .ok();
    let record = &audit["records"][0]["detail"];
    assert_eq!(record["redactions_sent"], 15, "{audit}");
    assert!(record["events_pruned"].as_u64().is_some_and(|n| n >= 20), "{audit}");
    assert_eq!(record["media_deleted"], 1);
    // The id stays taken.
    server
        .get("/_matrix/client/v3/register/available?username=alice", None)
        .await
        .assert_error(400, "M_USER_IN_USE");

    // Every table, read back, and every file on disk: none of it left.
    server.stop().await;
    let mut needles: Vec<Vec<u8>> = bodies.iter().map(|body| body.clone().into_bytes()).collect();
    needles.push(display.clone().into_bytes());
    needles.push(file.clone().into_bytes());
    for needle in &needles {
        let tables = tables_containing(&server, needle);
        assert!(
            tables.is_empty(),
            "{} still in {tables:?}",
            String::from_utf8_lossy(needle)
        );
    }
    for needle in &needles {
        let found = files_containing(server.dir(), needle);
        assert!(
            found.is_empty(),
            "{} found in {found:?}",
            String::from_utf8_lossy(needle)
        );
    }
}
