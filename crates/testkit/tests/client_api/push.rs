//! Push notifications (spec: "Push notifications"): pushers set, listed, replaced and deleted
//! with the spec's errors (a gateway on a denied address included); pushers leaving with the
//! device that set them on a password change (Complement's TestChangePasswordPushers);
//! notifications delivered to a real HTTP gateway on loopback with the fields of the push
//! gateway API, retried while it fails, the pusher dropped when it rejects the pushkey;
//! badge-only updates when the user reads (Synapse's, which phone apps clear their badge by);
//! `/notifications` with `read` and `only=highlight`; the poll rules of MSC3930 exactly as
//! Complement's TestPollsLocalPushRules reads them.

use accord_testkit::{TestServer, TestUser};
use serde_json::{Value, json};

use crate::push_gateway::{Answer, TestGateway};

fn pusher(url: &str, pushkey: &str) -> Value {
    json!({
        "kind": "http", "app_id": "org.example.app", "pushkey": pushkey,
        "app_display_name": "Example", "device_display_name": "Phone", "lang": "en",
        "profile_tag": "tag", "data": { "url": url, "extra": "kept" },
    })
}

async fn set(server: &TestServer, user: &TestUser, body: Value) -> accord_testkit::Reply {
    server
        .post("/_matrix/client/v3/pushers/set", Some(&user.token), body)
        .await
}

async fn pushers(server: &TestServer, user: &TestUser) -> Vec<Value> {
    server.get("/_matrix/client/v3/pushers", Some(&user.token)).await.ok()["pushers"]
        .as_array()
        .expect("pushers")
        .clone()
}

/// A server whose pushers may reach a gateway on loopback.
async fn server_allowing_loopback() -> TestServer {
    TestServer::start_with(|config| config.push.ip_range_allowlist = vec!["127.0.0.1/32".to_owned()]).await
}

#[tokio::test]
async fn pushers_are_checked_listed_replaced_and_deleted() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    let good = "https://push.example.org/_matrix/push/v1/notify";
    assert_eq!(set(&server, &alice, pusher(good, "key-1")).await.status, 200);
    let listed = pushers(&server, &alice).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (
            &listed[0]["pushkey"],
            &listed[0]["data"]["url"],
            &listed[0]["data"]["extra"]
        ),
        (&json!("key-1"), &json!(good), &json!("kept"))
    );

    for (url, errcode) in [
        ("https://push.example.org/notify", "M_MISSING_PARAM"),
        ("ftp://push.example.org/_matrix/push/v1/notify", "M_MISSING_PARAM"),
        ("http://127.0.0.1:9/_matrix/push/v1/notify", "M_INVALID_PARAM"),
        ("http://[::1]:9/_matrix/push/v1/notify", "M_INVALID_PARAM"),
        ("http://10.1.2.3/_matrix/push/v1/notify", "M_INVALID_PARAM"),
    ] {
        let reply = set(&server, &alice, pusher(url, "key-2")).await;
        assert_eq!(
            (reply.status, reply.errcode()),
            (400, Some(errcode)),
            "{url}: {}",
            reply.body
        );
    }
    let mut no_url = pusher(good, "key-2");
    no_url["data"] = json!({});
    assert_eq!(set(&server, &alice, no_url).await.status, 400);
    assert_eq!(pushers(&server, &alice).await.len(), 1, "a refused pusher was stored");

    // The same pushkey set by Bob moves to Bob; with `append` it would be shared.
    assert_eq!(set(&server, &bob, pusher(good, "key-1")).await.status, 200);
    assert!(pushers(&server, &alice).await.is_empty());
    let mut shared = pusher(good, "key-1");
    shared["append"] = json!(true);
    assert_eq!(set(&server, &alice, shared).await.status, 200);
    assert_eq!(pushers(&server, &bob).await.len(), 1);
    // `kind: null` deletes.
    let delete = json!({ "kind": null, "app_id": "org.example.app", "pushkey": "key-1" });
    assert_eq!(set(&server, &bob, delete).await.status, 200);
    assert!(pushers(&server, &bob).await.is_empty());
    assert_eq!(pushers(&server, &alice).await.len(), 1);
}

#[tokio::test]
async fn a_password_change_drops_the_pushers_of_the_devices_it_logs_out() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let other = server.login("alice", "pw-alice-1").await.ok();
    let other = TestUser {
        user_id: alice.user_id.clone(),
        token: other["access_token"].as_str().expect("token").to_owned(),
        device_id: other["device_id"].as_str().expect("device").to_owned(),
        password: alice.password.clone(),
    };
    let url = "https://push.example.org/_matrix/push/v1/notify";
    assert_eq!(set(&server, &other, pusher(url, "other")).await.status, 200);
    assert_eq!(set(&server, &alice, pusher(url, "mine")).await.status, 200);
    let change = server
        .post(
            "/_matrix/client/v3/account/password",
            Some(&alice.token),
            json!({
                "new_password": "pw-alice-2",
                "auth": { "type": "m.login.password", "identifier": { "type": "m.id.user", "user": alice.user_id }, "password": "pw-alice-1" },
            }),
        )
        .await;
    assert_eq!(change.status, 200, "{}", change.body);
    let left: Vec<Value> = pushers(&server, &alice).await;
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0]["pushkey"], "mine");
}

#[tokio::test]
async fn notifications_reach_the_gateway_with_the_spec_fields() {
    let gateway = TestGateway::start().await;
    let server = server_allowing_loopback().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    let room = server
        .create_room(&alice, json!({ "preset": "public_chat", "name": "Ops" }))
        .await;
    assert_eq!(server.join(&bob, &room).await.status, 200);
    assert_eq!(
        set(&server, &alice, pusher(&gateway.url, "alice-phone")).await.status,
        200
    );
    // Alice's own messages don't push to her.
    server.send_text(&alice, &room, "note to self").await;
    let message = server.send_text(&bob, &room, "hello alice").await;
    let received = gateway.wait_for(1).await;
    let notification = &received[0]["notification"];
    assert_eq!(notification["event_id"], json!(message));
    assert_eq!(
        (
            &notification["room_id"],
            &notification["type"],
            &notification["sender"],
            &notification["room_name"]
        ),
        (
            &json!(room),
            &json!("m.room.message"),
            &json!(bob.user_id),
            &json!("Ops")
        )
    );
    assert_eq!(notification["content"]["body"], "hello alice");
    assert_eq!(notification["counts"]["unread"], 1);
    let device = &notification["devices"][0];
    assert_eq!(
        (&device["app_id"], &device["pushkey"]),
        (&json!("org.example.app"), &json!("alice-phone"))
    );
    assert!(
        device["data"].get("url").is_none(),
        "the url is not sent back: {device}"
    );
    assert_eq!(device["data"]["extra"], "kept");
    assert!(
        device["pushkey_ts"].as_u64().is_some_and(|ts| ts < 10_000_000_000),
        "seconds: {device}"
    );

    // A failing gateway is retried until it takes the notification.
    gateway.answer(Answer::FailTimes(2));
    let retried = server.send_text(&bob, &room, "are you there").await;
    let received = gateway.wait_for(4).await;
    assert!(
        received[1..]
            .iter()
            .all(|r| r["notification"]["event_id"] == json!(retried))
    );
    // A gateway rejecting the pushkey ends the pusher.
    gateway.answer(Answer::Reject(vec!["alice-phone".to_owned()]));
    server.send_text(&bob, &room, "one more").await;
    gateway.wait_for(5).await;
    for _ in 0..50 {
        if pushers(&server, &alice).await.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        pushers(&server, &alice).await.is_empty(),
        "a rejected pushkey's pusher stays"
    );
}

#[tokio::test]
async fn reading_sends_the_lower_badge_alone_once() {
    let gateway = TestGateway::start().await;
    let server = server_allowing_loopback().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    let room = server.create_room(&alice, json!({ "preset": "public_chat" })).await;
    assert_eq!(server.join(&bob, &room).await.status, 200);
    assert_eq!(
        set(&server, &alice, pusher(&gateway.url, "alice-phone")).await.status,
        200
    );
    let message = server.send_text(&bob, &room, "unread until alice reads it").await;
    let received = gateway.wait_for(1).await;
    assert_eq!(received[0]["notification"]["counts"]["unread"], 1);

    let receipt = |kind: &'static str| {
        let path = format!("/_matrix/client/v3/rooms/{room}/receipt/{kind}/{message}");
        let token = alice.token.clone();
        let server = &server;
        async move { server.post(&path, Some(&token), json!({})).await }
    };
    assert_eq!(receipt("m.read").await.status, 200);
    let received = gateway.wait_for(2).await;
    let badge = &received[1]["notification"];
    assert_eq!(badge["counts"]["unread"], 0, "{badge}");
    assert!(
        badge.get("event_id").is_none() && badge.get("room_id").is_none(),
        "badge only: {badge}"
    );
    assert_eq!(badge["devices"][0]["pushkey"], "alice-phone");
    assert_eq!(badge["prio"], "low");

    // The badge is unchanged by another receipt on the same event: nothing more is sent.
    assert_eq!(receipt("m.read.private").await.status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(gateway.received().len(), 2, "{:?}", gateway.received());
    // The next message raises it again with its notification.
    server.send_text(&bob, &room, "another one").await;
    let received = gateway.wait_for(3).await;
    assert_eq!(received[2]["notification"]["counts"]["unread"], 1);
}

#[tokio::test]
async fn notifications_are_listed_with_read_and_highlights() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    let room = server.create_room(&alice, json!({ "preset": "public_chat" })).await;
    assert_eq!(server.join(&bob, &room).await.status, 200);
    let plain = server.send_text(&bob, &room, "plain message").await;
    let mention = server
        .send_event(
            &bob,
            &room,
            "m.room.message",
            json!({ "msgtype": "m.text", "body": "hey", "m.mentions": { "user_ids": [alice.user_id] } }),
        )
        .await;
    let list = |query: &str| {
        let server = &server;
        let token = alice.token.clone();
        let path = format!("/_matrix/client/v3/notifications{query}");
        async move { server.get(&path, Some(&token)).await.ok() }
    };
    let all = list("").await;
    let ids: Vec<&str> = all["notifications"]
        .as_array()
        .expect("notifications")
        .iter()
        .filter_map(|n| n["event"]["event_id"].as_str())
        .collect();
    assert_eq!(ids, [mention.as_str(), plain.as_str()], "{all}");
    assert_eq!(all["notifications"][0]["read"], false);
    assert_eq!(all["notifications"][0]["room_id"], json!(room));
    assert!(all["notifications"][0]["event"].get("room_id").is_none());
    let highlights = list("?only=highlight").await;
    assert_eq!(
        highlights["notifications"].as_array().map(Vec::len),
        Some(1),
        "{highlights}"
    );
    let first_page = list("?limit=1").await;
    let token = first_page["next_token"].as_str().expect("next_token");
    let second_page = list(&format!("?limit=1&from={token}")).await;
    assert_eq!(second_page["notifications"][0]["event"]["event_id"], json!(plain));
    let reply = server
        .post(
            &format!("/_matrix/client/v3/rooms/{room}/receipt/m.read/{mention}"),
            Some(&alice.token),
            json!({}),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(list("").await["notifications"][0]["read"], true);
    let bad = server
        .get("/_matrix/client/v3/notifications?from=nonsense", Some(&alice.token))
        .await;
    assert_eq!(bad.status, 400);
}

#[tokio::test]
async fn poll_rules_are_served_as_synapse_serves_them() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let rule = |kind: &str, id: &str| {
        let server = &server;
        let token = alice.token.clone();
        let path = format!("/_matrix/client/v3/pushrules/global/{kind}/.org.matrix.msc3930.rule.{id}");
        async move { server.get(&path, Some(&token)).await.ok() }
    };
    let response = rule("override", "poll_response").await;
    assert_eq!(response["actions"], json!([]));
    assert_eq!(
        response["conditions"],
        json!([{ "kind": "event_match", "key": "type", "pattern": "org.matrix.msc3381.poll.response" }])
    );
    let one_to_one = rule("underride", "poll_start_one_to_one").await;
    assert_eq!(
        one_to_one["conditions"],
        json!([
            { "kind": "room_member_count", "is": "2" },
            { "kind": "event_match", "key": "type", "pattern": "org.matrix.msc3381.poll.start" },
        ])
    );
    assert_eq!(
        one_to_one["actions"],
        json!(["notify", { "set_tweak": "sound", "value": "default" }])
    );
    assert_eq!(rule("underride", "poll_end").await["actions"], json!(["notify"]));
    let all = server
        .get("/_matrix/client/v3/pushrules/", Some(&alice.token))
        .await
        .ok();
    let order: Vec<&str> = all["global"]["underride"]
        .as_array()
        .expect("underride")
        .iter()
        .filter_map(|r| r["rule_id"].as_str())
        .filter(|id| id.contains("msc3930"))
        .collect();
    assert_eq!(
        order,
        [
            ".org.matrix.msc3930.rule.poll_start_one_to_one",
            ".org.matrix.msc3930.rule.poll_start",
            ".org.matrix.msc3930.rule.poll_end_one_to_one",
            ".org.matrix.msc3930.rule.poll_end",
        ]
    );
}
