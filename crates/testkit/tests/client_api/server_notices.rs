//! Server notices (spec: "Server Notices", Synapse's `send_server_notice`): what Complement's
//! TestServerNotices checks. The notice arrives as an invite from the notices user to a room
//! tagged `m.server_notice`; the invite can't be rejected; the notice is in the timeline once
//! joined; a retried PUT sends once; after leaving, the next notice invites back to the same
//! room; non-admins and bad bodies are refused.

use accord_testkit::{TestServer, TestUser};
use serde_json::{Value, json};

async fn notice(server: &TestServer, admin: &TestUser, txn: &str, user: &str, body: &str) -> accord_testkit::Reply {
    server
        .put(
            &format!("/_synapse/admin/v1/send_server_notice/{txn}"),
            Some(&admin.token),
            json!({ "user_id": user, "content": { "msgtype": "m.text", "body": body } }),
        )
        .await
}

fn invited_rooms(sync: &Value) -> Vec<String> {
    sync["rooms"]["invite"]
        .as_object()
        .map(|rooms| rooms.keys().cloned().collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn notices_arrive_in_a_room_that_cannot_be_refused_and_comes_back() {
    let server = TestServer::start().await;
    let admin = server.create_user("root", "pw-root-1", true).await;
    let alice = server.register("alice", "pw-alice-1").await;
    let system = format!("@_server:{}", alice.user_id.split_once(':').expect("server").1);

    // Not an admin: 403 before the body is even read.
    let reply = server
        .post("/_synapse/admin/v1/send_server_notice", Some(&alice.token), json!(null))
        .await;
    assert_eq!(
        (reply.status, reply.errcode()),
        (403, Some("M_FORBIDDEN")),
        "{}",
        reply.body
    );
    let reply = server
        .post(
            "/_synapse/admin/v1/send_server_notice",
            Some(&admin.token),
            json!({ "user_id": alice.user_id }),
        )
        .await;
    assert_eq!(
        (reply.status, reply.errcode()),
        (400, Some("M_MISSING_PARAM")),
        "{}",
        reply.body
    );
    let reply = notice(&server, &admin, "ghost", "@ghost:localhost", "hi").await;
    assert_eq!(reply.status, 404, "{}", reply.body);

    let first = notice(&server, &admin, "1", &alice.user_id, "maintenance tonight")
        .await
        .ok();
    let again = notice(&server, &admin, "1", &alice.user_id, "maintenance tonight")
        .await
        .ok();
    assert_eq!(first["event_id"], again["event_id"], "a retried PUT sent twice");
    let event_id = first["event_id"].as_str().expect("event_id").to_owned();

    let sync = server.sync(&alice, None, 0, None).await;
    let rooms = invited_rooms(&sync);
    assert_eq!(rooms.len(), 1, "{sync}");
    let room = rooms[0].clone();
    let invite_state = &sync["rooms"]["invite"][&room]["invite_state"]["events"];
    assert_eq!(invite_state[0]["sender"], json!(system), "{invite_state}");

    let reject = server
        .post(
            &format!("/_matrix/client/v3/rooms/{room}/leave"),
            Some(&alice.token),
            json!({}),
        )
        .await;
    assert_eq!(
        (reject.status, reject.errcode()),
        (403, Some("M_CANNOT_LEAVE_SERVER_NOTICE_ROOM")),
        "{}",
        reject.body
    );
    assert_eq!(server.join(&alice, &room).await.status, 200);
    let sync = server.sync(&alice, None, 0, None).await;
    let joined = &sync["rooms"]["join"][&room];
    let events: Vec<&str> = joined["timeline"]["events"]
        .as_array()
        .expect("timeline")
        .iter()
        .filter_map(|e| e["event_id"].as_str())
        .collect();
    assert!(events.contains(&event_id.as_str()), "{events:?}");
    let tags = joined["account_data"]["events"]
        .as_array()
        .expect("account data")
        .iter()
        .find(|e| e["type"] == "m.tag")
        .expect("m.tag")
        .clone();
    assert!(tags["content"]["tags"]["m.server_notice"].is_object(), "{tags}");

    // Joined, leaving is allowed; the next notice invites back to the same room.
    let leave = server
        .post(
            &format!("/_matrix/client/v3/rooms/{room}/leave"),
            Some(&alice.token),
            json!({}),
        )
        .await;
    assert_eq!(leave.status, 200, "{}", leave.body);
    notice(&server, &admin, "2", &alice.user_id, "second notice").await.ok();
    let sync = server.sync(&alice, None, 0, None).await;
    assert_eq!(invited_rooms(&sync), vec![room]);
}
