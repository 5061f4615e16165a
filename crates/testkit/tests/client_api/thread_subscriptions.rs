//! Thread subscriptions (MSC4306): by hand and automatic, what Complement's msc4306
//! TestThreadSubscriptions checks: unknown roots 404, a cause outside the thread 400, a manual
//! subscription not downgraded, unsubscribing answered 200 whether subscribed or not, and an
//! automatic subscription caused by an event older than the unsubscription refused with 409.

use accord_testkit::{TestServer, TestUser, urlencode};
use serde_json::{Value, json};

fn path(room: &str, root: &str) -> String {
    format!(
        "/_matrix/client/unstable/io.element.msc4306/rooms/{room}/thread/{}/subscription",
        urlencode(root)
    )
}

async fn reply_in(server: &TestServer, user: &TestUser, room: &str, root: &str, body: &str) -> String {
    server
        .send_event(
            user,
            room,
            "m.room.message",
            json!({ "msgtype": "m.text", "body": body, "m.relates_to": { "rel_type": "m.thread", "event_id": root } }),
        )
        .await
}

async fn put(server: &TestServer, user: &TestUser, room: &str, root: &str, body: Value) -> accord_testkit::Reply {
    server.put(&path(room, root), Some(&user.token), body).await
}

#[tokio::test]
async fn subscriptions_by_hand_and_automatic_respect_unsubscribing() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let room = server.create_room(&alice, json!({})).await;
    let root = server.send_text(&alice, &room, "root").await;
    let other_root = server.send_text(&alice, &room, "another root").await;
    let elsewhere = reply_in(&server, &alice, &room, &other_root, "other thread").await;

    assert_eq!(
        put(&server, &alice, &room, "$notathread:example.org", json!({}))
            .await
            .status,
        404
    );
    assert_eq!(server.get(&path(&room, &root), Some(&alice.token)).await.status, 404);
    // A cause that is the root itself, or in another thread: 400.
    for cause in [&root, &elsewhere] {
        let reply = put(&server, &alice, &room, &root, json!({ "automatic": cause })).await;
        assert_eq!(
            (reply.status, reply.errcode()),
            (400, Some("IO.ELEMENT.MSC4306.M_NOT_IN_THREAD")),
            "{}",
            reply.body
        );
    }
    let reply1 = reply_in(&server, &alice, &room, &root, "reply 1").await;
    assert_eq!(
        put(&server, &alice, &room, &root, json!({ "automatic": reply1 }))
            .await
            .status,
        200
    );
    let got = server.get(&path(&room, &root), Some(&alice.token)).await.ok();
    assert_eq!(got["automatic"], true);
    // By hand beats automatic, and isn't downgraded by a later automatic one.
    assert_eq!(put(&server, &alice, &room, &root, json!({})).await.status, 200);
    assert_eq!(
        put(&server, &alice, &room, &root, json!({ "automatic": reply1 }))
            .await
            .status,
        200
    );
    assert_eq!(
        server.get(&path(&room, &root), Some(&alice.token)).await.ok()["automatic"],
        false
    );

    let reply2 = reply_in(&server, &alice, &room, &root, "reply 2").await;
    let delete = server.delete(&path(&room, &root), Some(&alice.token), None).await;
    assert_eq!(delete.status, 200);
    assert_eq!(
        server
            .delete(&path(&room, &root), Some(&alice.token), None)
            .await
            .status,
        200
    );
    assert_eq!(server.get(&path(&room, &root), Some(&alice.token)).await.status, 404);
    let reply3 = reply_in(&server, &alice, &room, &root, "reply 3").await;
    for cause in [&reply1, &reply2] {
        let reply = put(&server, &alice, &room, &root, json!({ "automatic": cause })).await;
        assert_eq!(
            (reply.status, reply.errcode()),
            (409, Some("IO.ELEMENT.MSC4306.M_CONFLICTING_UNSUBSCRIPTION")),
            "{}",
            reply.body
        );
        assert_eq!(server.get(&path(&room, &root), Some(&alice.token)).await.status, 404);
    }
    assert_eq!(
        put(&server, &alice, &room, &root, json!({ "automatic": reply3 }))
            .await
            .status,
        200
    );
    assert_eq!(
        server.get(&path(&room, &root), Some(&alice.token)).await.ok()["automatic"],
        true
    );
}
