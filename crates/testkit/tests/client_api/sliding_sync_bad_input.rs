//! Simplified sliding sync refuses bad requests with the spec's error and leaves the
//! connection as it was: malformed ranges, negative and huge limits, unknown list names, a
//! `pos` of another user or connection.

use accord_testkit::TestServer;
use serde_json::{Value, json};

fn list(ranges: Value, timeline_limit: Value) -> Value {
    json!({ "conn_id": "c", "lists": { "l": { "ranges": ranges, "timeline_limit": timeline_limit, "required_state": [] } } })
}

#[tokio::test]
async fn bad_requests_get_errors_and_change_nothing() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    let room = server.create_room(&alice, json!({})).await;
    let first = server
        .sliding_sync(&alice, None, 0, list(json!([[0, 9]]), json!(1)))
        .await
        .ok();
    let pos = first["pos"].as_str().expect("pos").to_owned();
    let new_message = server.send_text(&alice, &room, "after the first response").await;

    let cases: Vec<(&str, Value, u16, &str)> = vec![
        (
            "range that ends before it starts",
            list(json!([[5, 2]]), json!(1)),
            400,
            "M_INVALID_PARAM",
        ),
        (
            "range that is not a pair",
            list(json!([[0, 1, 2]]), json!(1)),
            400,
            "M_BAD_JSON",
        ),
        ("negative range", list(json!([[-1, 3]]), json!(1)), 400, "M_BAD_JSON"),
        ("ranges not a list", list(json!("0-9"), json!(1)), 400, "M_BAD_JSON"),
        (
            "negative timeline_limit",
            list(json!([[0, 9]]), json!(-1)),
            400,
            "M_BAD_JSON",
        ),
        (
            "timeline_limit past 1000",
            list(json!([[0, 9]]), json!(1001)),
            400,
            "M_INVALID_PARAM",
        ),
        (
            "timeline_limit past 2^53",
            list(json!([[0, 9]]), json!(1u64 << 60)),
            400,
            "M_BAD_JSON",
        ),
        (
            "extension naming an unknown list",
            {
                let mut body = list(json!([[0, 9]]), json!(1));
                body["extensions"] = json!({ "receipts": { "enabled": true, "lists": ["nope"] } });
                body
            },
            400,
            "M_INVALID_PARAM",
        ),
        (
            "negative to-device limit",
            {
                let mut body = list(json!([[0, 9]]), json!(1));
                body["extensions"] = json!({ "to_device": { "enabled": true, "limit": -5 } });
                body
            },
            400,
            "M_BAD_JSON",
        ),
        (
            "101 lists",
            {
                let lists: serde_json::Map<String, Value> = (0..101)
                    .map(|i| {
                        (
                            format!("l{i}"),
                            json!({ "ranges": [[0, 0]], "timeline_limit": 0, "required_state": [] }),
                        )
                    })
                    .collect();
                json!({ "conn_id": "c", "lists": lists })
            },
            400,
            "M_INVALID_PARAM",
        ),
        (
            "not a room id",
            json!({ "conn_id": "c", "room_subscriptions": { "nope": { "timeline_limit": 1, "required_state": [] } } }),
            400,
            "M_BAD_JSON",
        ),
    ];
    for (what, body, status, errcode) in cases {
        let reply = server.sliding_sync(&alice, Some(&pos), 0, body).await;
        assert_eq!(
            (reply.status, reply.errcode()),
            (status, Some(errcode)),
            "{what}: {}",
            reply.body
        );
    }
    // Another user's or another connection's pos.
    server
        .sliding_sync(&bob, Some(&pos), 0, list(json!([[0, 9]]), json!(1)))
        .await
        .assert_error(400, "M_UNKNOWN_POS");
    let mut other_connection = list(json!([[0, 9]]), json!(1));
    other_connection["conn_id"] = json!("other");
    server
        .sliding_sync(&alice, Some(&pos), 0, other_connection)
        .await
        .assert_error(400, "M_UNKNOWN_POS");

    // The connection is untouched: its pos still works and the message is still news.
    let next = server
        .sliding_sync(&alice, Some(&pos), 0, list(json!([[0, 9]]), json!(1)))
        .await
        .ok();
    assert_eq!(next["rooms"][&room]["timeline"][0]["event_id"], new_message.as_str());
    // And the server still serves.
    assert_eq!(server.get("/_matrix/client/versions", None).await.status, 200);
}
