//! Simplified sliding sync extensions: to-device (until acknowledged), e2ee, account data,
//! receipts, typing and thread subscriptions (MSC4308), each scoped as the MSC says.

use std::time::Duration;

use accord_testkit::TestServer;
use serde_json::{Value, json};

fn pos_of(body: &Value) -> String {
    body["pos"].as_str().expect("pos").to_owned()
}

/// Element X's encryption connection: no lists, to-device and e2ee.
fn encryption(since: Option<&str>) -> Value {
    let mut to_device = json!({ "enabled": true });
    if let Some(since) = since {
        to_device["since"] = json!(since);
    }
    json!({ "conn_id": "encryption", "extensions": { "to_device": to_device, "e2ee": { "enabled": true } } })
}

#[tokio::test]
async fn to_device_messages_come_until_acknowledged_and_e2ee_reports_keys_and_devices() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    let room = server.create_room(&alice, json!({ "preset": "public_chat" })).await;
    assert_eq!(server.join(&bob, &room).await.status, 200);
    server
        .post(
            "/_matrix/client/v3/keys/upload",
            Some(&alice.token),
            json!({ "one_time_keys": { "signed_curve25519:AAAA": { "key": "k1", "signatures": {} } },
                "fallback_keys": { "signed_curve25519:BBBB": { "key": "k2", "fallback": true, "signatures": {} } } }),
        )
        .await
        .ok();
    let first = server.sliding_sync(&alice, None, 30_000, encryption(None)).await.ok();
    let e2ee = &first["extensions"]["e2ee"];
    assert_eq!(e2ee["device_one_time_keys_count"]["signed_curve25519"], 1);
    assert_eq!(e2ee["device_unused_fallback_key_types"], json!(["signed_curve25519"]));
    let next_batch = first["extensions"]["to_device"]["next_batch"]
        .as_str()
        .expect("next_batch")
        .to_owned();

    // bob sends alice a to-device message; it wakes her waiting request.
    let send = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        server
            .put(
                "/_matrix/client/v3/sendToDevice/m.test/txn1",
                Some(&bob.token),
                json!({ "messages": { alice.user_id.clone(): { alice.device_id.clone(): { "hello": "alice" } } } }),
            )
            .await
            .ok();
    };
    let pos = pos_of(&first);
    let poll = server.sliding_sync(&alice, Some(&pos), 20_000, encryption(Some(&next_batch)));
    let (reply, ()) = tokio::join!(poll, send);
    let got = reply.ok();
    let events = got["extensions"]["to_device"]["events"].as_array().expect("events");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["content"]["hello"], "alice");
    assert_eq!(events[0]["sender"], bob.user_id.as_str());
    // Not acknowledged (the same since): it comes again; acknowledged, it is gone.
    let again = server
        .sliding_sync(&alice, Some(&pos_of(&got)), 0, encryption(Some(&next_batch)))
        .await
        .ok();
    assert_eq!(
        again["extensions"]["to_device"]["events"].as_array().map(Vec::len),
        Some(1)
    );
    let acked = got["extensions"]["to_device"]["next_batch"]
        .as_str()
        .expect("next_batch")
        .to_owned();
    let gone = server
        .sliding_sync(&alice, Some(&pos_of(&again)), 0, encryption(Some(&acked)))
        .await
        .ok();
    assert!(
        gone["extensions"]["to_device"]["events"]
            .as_array()
            .is_none_or(|e| e.is_empty())
    );

    // bob's new device, once it uploads its keys, shows as a device list change.
    let login = server.login("bob", "pw-bob-1").await.ok();
    let (token, device) = (
        login["access_token"].as_str().expect("token"),
        login["device_id"].as_str().expect("device"),
    );
    server
        .post(
            "/_matrix/client/v3/keys/upload",
            Some(token),
            json!({ "device_keys": { "user_id": bob.user_id, "device_id": device,
                "algorithms": ["m.olm.v1.curve25519-aes-sha2"],
                "keys": { format!("curve25519:{device}"): "c", format!("ed25519:{device}"): "e" },
                "signatures": {} } }),
        )
        .await
        .ok();
    let changed = server
        .sliding_sync(&alice, Some(&pos_of(&gone)), 5_000, encryption(Some(&acked)))
        .await
        .ok();
    let changed_users = changed["extensions"]["e2ee"]["device_lists"]["changed"]
        .as_array()
        .expect("changed");
    assert!(changed_users.iter().any(|u| u == bob.user_id.as_str()), "{changed}");
}

#[tokio::test]
async fn account_data_receipts_and_typing_for_the_rooms_shown() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    let shown = server.create_room(&alice, json!({ "preset": "public_chat" })).await;
    let hidden = server.create_room(&alice, json!({ "preset": "public_chat" })).await;
    assert_eq!(server.join(&bob, &shown).await.status, 200);
    let event = server.send_text(&bob, &shown, "read me").await;
    // `hidden` is newer: a list of one with `shown` subscribed shows both; scoping the
    // extensions to the subscriptions leaves out the list's room.
    server.send_text(&alice, &hidden, "newest").await;
    for room in [&shown, &hidden] {
        server
            .put(
                &format!(
                    "/_matrix/client/v3/user/{}/rooms/{room}/account_data/m.test",
                    alice.user_id
                ),
                Some(&alice.token),
                json!({ "room": room }),
            )
            .await
            .ok();
    }
    server
        .put(
            &format!("/_matrix/client/v3/user/{}/account_data/m.global_test", alice.user_id),
            Some(&alice.token),
            json!({ "global": true }),
        )
        .await
        .ok();
    server
        .post(
            &format!("/_matrix/client/v3/rooms/{shown}/receipt/m.read/{event}"),
            Some(&bob.token),
            json!({}),
        )
        .await
        .ok();
    let body = |scoped: bool| {
        let rooms = if scoped { json!(["*"]) } else { Value::Null };
        let lists = if scoped { json!([]) } else { Value::Null };
        let mut extension = json!({ "enabled": true });
        if scoped {
            extension["rooms"] = rooms;
            extension["lists"] = lists;
        }
        json!({
            "conn_id": if scoped { "scoped" } else { "all" },
            "lists": { "l": { "ranges": [[0, 0]], "timeline_limit": 1, "required_state": [] } },
            "room_subscriptions": { shown.clone(): { "timeline_limit": 1, "required_state": [] } },
            "extensions": { "account_data": extension.clone(), "receipts": extension.clone(), "typing": extension },
        })
    };
    let all = server.sliding_sync(&alice, None, 0, body(false)).await.ok();
    let ext = &all["extensions"];
    let global: Vec<&str> = ext["account_data"]["global"]
        .as_array()
        .expect("global")
        .iter()
        .filter_map(|e| e["type"].as_str())
        .collect();
    assert!(
        global.contains(&"m.global_test") && global.contains(&"m.push_rules"),
        "{global:?}"
    );
    assert_eq!(
        ext["account_data"]["rooms"][&shown][0]["content"]["room"],
        shown.as_str()
    );
    assert_eq!(
        ext["account_data"]["rooms"][&hidden][0]["content"]["room"],
        hidden.as_str()
    );
    assert!(
        ext["receipts"]["rooms"][&shown]["content"][&event]["m.read"][&bob.user_id].is_object(),
        "{ext}"
    );

    let scoped = server.sliding_sync(&alice, None, 0, body(true)).await.ok();
    let ext = &scoped["extensions"];
    assert!(
        ext["account_data"]["rooms"].get(&hidden).is_none(),
        "the list's room is out of scope"
    );
    assert!(ext["account_data"]["rooms"].get(&shown).is_some());

    // Typing in the shown room wakes a waiting request and arrives in the typing extension.
    let typing = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        server
            .put(
                &format!("/_matrix/client/v3/rooms/{shown}/typing/{}", bob.user_id),
                Some(&bob.token),
                json!({ "typing": true, "timeout": 10_000 }),
            )
            .await
            .ok();
    };
    let pos = pos_of(&all);
    let poll = server.sliding_sync(&alice, Some(&pos), 20_000, body(false));
    let (reply, ()) = tokio::join!(poll, typing);
    let got = reply.ok();
    assert_eq!(
        got["extensions"]["typing"]["rooms"][&shown]["content"]["user_ids"],
        json!([bob.user_id])
    );
    // Only changes later: the receipt and the account data are not sent again.
    assert!(got["extensions"]["receipts"]["rooms"].get(&shown).is_none());
    assert!(got["extensions"]["account_data"]["rooms"].get(&shown).is_none());
}

#[tokio::test]
async fn thread_subscriptions_arrive_in_their_extension() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let room = server.create_room(&alice, json!({})).await;
    let root = server.send_text(&alice, &room, "thread root").await;
    server
        .send_event(
            &alice,
            &room,
            "m.room.message",
            json!({ "msgtype": "m.text", "body": "in thread", "m.relates_to": { "rel_type": "m.thread", "event_id": root } }),
        )
        .await;
    let body = json!({ "extensions": { "io.element.msc4308.thread_subscriptions": { "enabled": true, "limit": 2 } } });
    let before = server.sliding_sync(&alice, None, 0, body.clone()).await.ok();
    assert!(
        before["extensions"]
            .get("io.element.msc4308.thread_subscriptions")
            .is_none()
    );
    server
        .put(
            &format!("/_matrix/client/unstable/io.element.msc4306/rooms/{room}/thread/{root}/subscription"),
            Some(&alice.token),
            json!({}),
        )
        .await
        .ok();
    let after = server
        .sliding_sync(&alice, Some(&pos_of(&before)), 0, body.clone())
        .await
        .ok();
    let subscription = &after["extensions"]["io.element.msc4308.thread_subscriptions"]["subscribed"][&room][&root];
    assert_eq!(subscription["automatic"], false, "{after}");
    assert!(subscription["bump_stamp"].is_u64());
    let initial = server.sliding_sync(&alice, None, 0, body).await.ok();
    assert!(initial["extensions"]["io.element.msc4308.thread_subscriptions"]["subscribed"][&room][&root].is_object());
}

/// More changes than the extension's `limit`: `prev_batch` points the rest to MSC4308's list
/// endpoint, which pages on from there; its bad parameters get `M_INVALID_PARAM`.
#[tokio::test]
async fn thread_subscriptions_past_the_limit_page_on_through_the_list_endpoint() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let room = server.create_room(&alice, json!({})).await;
    let mut roots = Vec::new();
    for i in 0..3 {
        let root = server.send_text(&alice, &room, &format!("root {i}")).await;
        server
            .send_event(
                &alice,
                &room,
                "m.room.message",
                json!({ "msgtype": "m.text", "body": "reply", "m.relates_to": { "rel_type": "m.thread", "event_id": root } }),
            )
            .await;
        server
            .put(
                &format!("/_matrix/client/unstable/io.element.msc4306/rooms/{room}/thread/{root}/subscription"),
                Some(&alice.token),
                json!({}),
            )
            .await
            .ok();
        roots.push(root);
    }
    let body = json!({ "extensions": { "io.element.msc4308.thread_subscriptions": { "enabled": true, "limit": 2 } } });
    let reply = server.sliding_sync(&alice, None, 0, body).await.ok();
    let extension = &reply["extensions"]["io.element.msc4308.thread_subscriptions"];
    let sent = extension["subscribed"][&room].as_object().expect("subscribed");
    assert_eq!(sent.len(), 2);
    assert!(
        sent.contains_key(&roots[2]) && sent.contains_key(&roots[1]),
        "the newest two"
    );
    let prev_batch = extension["prev_batch"].as_str().expect("prev_batch");
    let list = "/_matrix/client/unstable/io.element.msc4308/thread_subscriptions";
    let rest = server
        .get(&format!("{list}?dir=b&from={prev_batch}&limit=10"), Some(&alice.token))
        .await
        .ok();
    let older = rest["subscribed"][&room].as_object().expect("subscribed");
    assert_eq!(older.keys().collect::<Vec<_>>(), vec![&roots[0]]);
    assert!(rest.get("end").is_none(), "nothing older");
    let whole = server
        .get(&format!("{list}?dir=b&limit=1"), Some(&alice.token))
        .await
        .ok();
    assert_eq!(whole["subscribed"][&room].as_object().map(|m| m.len()), Some(1));
    assert!(whole["end"].is_string());
    for bad in ["dir=f", "dir=b&limit=0", "dir=b&from=garbage", "dir=b&to=x"] {
        server
            .get(&format!("{list}?{bad}"), Some(&alice.token))
            .await
            .assert_error(400, "M_INVALID_PARAM");
    }
}
