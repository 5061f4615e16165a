//! Reporting content (spec: "Reporting content"): event, room and user reports stored for
//! admins and read back through the admin API; what a reporter may not see or name is 404
//! (events, rooms) or silently accepted (users, so accounts can't be probed); bad fields 400.

use accord_testkit::TestServer;
use serde_json::{Value, json};

#[tokio::test]
async fn reports_reach_the_admins_and_hide_what_the_reporter_may_not_see() {
    let server = TestServer::start().await;
    let admin = server.create_user("root", "pw-root-1", true).await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    let room = server.create_room(&alice, json!({ "preset": "public_chat" })).await;
    assert_eq!(server.join(&bob, &room).await.status, 200);
    let rude = server.send_text(&alice, &room, "something rude").await;
    let private = server.create_room(&alice, json!({ "preset": "private_chat" })).await;
    let hidden = server.send_text(&alice, &private, "not for bob").await;

    let post = |path: String, body: Value| {
        let server = &server;
        let token = bob.token.clone();
        async move { server.post(&path, Some(&token), body).await }
    };
    let reply = post(
        format!("/_matrix/client/v3/rooms/{room}/report/{rude}"),
        json!({ "reason": "rude", "score": -50 }),
    )
    .await;
    assert_eq!((reply.status, reply.body.clone()), (200, json!({})));
    // An event in a room Bob is not in, and one that doesn't exist: both 404, no difference.
    for (in_room, event) in [(&private, hidden.as_str()), (&room, "$nothing:localhost")] {
        let reply = post(format!("/_matrix/client/v3/rooms/{in_room}/report/{event}"), json!({})).await;
        assert_eq!(
            (reply.status, reply.errcode()),
            (404, Some("M_NOT_FOUND")),
            "{}",
            reply.body
        );
    }
    for body in [
        json!({ "score": "very" }),
        json!({ "score": -500 }),
        json!({ "reason": 5 }),
    ] {
        let reply = post(format!("/_matrix/client/v3/rooms/{room}/report/{rude}"), body.clone()).await;
        assert_eq!(reply.status, 400, "{body}: {}", reply.body);
    }
    let reply = post(
        format!("/_matrix/client/v3/rooms/{room}/report"),
        json!({ "reason": "spam room" }),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let reply = post(
        "/_matrix/client/v3/rooms/!unknown:localhost/report".to_owned(),
        json!({ "reason": "?" }),
    )
    .await;
    assert_eq!(reply.status, 404, "{}", reply.body);
    let reply = post(format!("/_matrix/client/v3/rooms/{room}/report"), json!({})).await;
    assert_eq!(reply.status, 400, "a room report needs a reason: {}", reply.body);
    for target in [alice.user_id.as_str(), "@ghost:localhost", "@someone:elsewhere.example"] {
        let reply = post(
            format!("/_matrix/client/v3/users/{target}/report"),
            json!({ "reason": "abuse" }),
        )
        .await;
        assert_eq!((reply.status, reply.body.clone()), (200, json!({})), "{target}");
    }
    let long = "x".repeat(1001);
    let reply = post(
        format!("/_matrix/client/v3/users/{}/report", alice.user_id),
        json!({ "reason": long }),
    )
    .await;
    assert_eq!(reply.status, 400, "{}", reply.body);

    // The admins see one report of each kind; only the existing user's report was kept.
    let list = |kind: &str| {
        let server = &server;
        let token = admin.token.clone();
        let path = format!("/_synapse/admin/v1/event_reports?kind={kind}");
        async move { server.get(&path, Some(&token)).await }
    };
    let events = list("event").await.ok();
    let reports = events["event_reports"].as_array().expect("reports").clone();
    assert_eq!(reports.len(), 1, "{events}");
    assert_eq!(
        (
            &reports[0]["event_id"],
            &reports[0]["sender"],
            &reports[0]["user_id"],
            &reports[0]["score"]
        ),
        (&json!(rude), &json!(alice.user_id), &json!(bob.user_id), &json!(-50))
    );
    assert_eq!(list("room").await.ok()["total"], 1);
    let users = list("user").await.ok();
    assert_eq!(users["event_reports"][0]["sender"], json!(alice.user_id), "{users}");
    assert_eq!(users["total"], 1);
    // Not an admin: 403. Reading and deleting one.
    let reply = server.get("/_synapse/admin/v1/event_reports", Some(&bob.token)).await;
    assert_eq!(reply.status, 403);
    let id = reports[0]["id"].as_u64().expect("id");
    let path = format!("/_synapse/admin/v1/event_reports/{id}");
    assert_eq!(server.get(&path, Some(&admin.token)).await.ok()["reason"], "rude");
    assert_eq!(server.delete(&path, Some(&admin.token), None).await.status, 200);
    assert_eq!(server.get(&path, Some(&admin.token)).await.status, 404);
}
