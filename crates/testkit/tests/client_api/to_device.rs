//! Send-to-device messaging: delivered to one device or all, until the device acknowledges
//! them; idempotent per transaction id; paged 100 per sync; and across servers exactly once,
//! whichever server restarts in between.

use std::time::Duration;

use accord_testkit::{TestServer, TestUser, ca::TestCa};
use serde_json::{Value, json};

use crate::federation_support::{origin, rand_id};

async fn send(server: &TestServer, from: &TestUser, txn: &str, messages: Value) {
    server
        .put(
            &format!("/_matrix/client/v3/sendToDevice/m.test.ping/{txn}"),
            Some(&from.token),
            json!({ "messages": messages }),
        )
        .await
        .ok();
}

fn next_batch(sync: &Value) -> String {
    sync["next_batch"].as_str().expect("next_batch").to_owned()
}

/// The `n` of each to-device event in a sync response.
fn numbers(sync: &Value) -> Vec<u64> {
    // No `to_device` section at all when there is nothing (spec: optional).
    sync["to_device"]["events"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|e| e["content"]["n"].as_u64().expect("n"))
        .collect()
}

/// A second device of `user`, logged in with `password`.
pub(crate) async fn second_device(server: &TestServer, user: &TestUser, password: &str) -> TestUser {
    let name = user
        .user_id
        .trim_start_matches('@')
        .split(':')
        .next()
        .expect("localpart");
    let login = server.login(name, password).await.ok();
    TestUser {
        user_id: user.user_id.clone(),
        device_id: login["device_id"].as_str().expect("device").to_owned(),
        token: login["access_token"].as_str().expect("token").to_owned(),
        password: password.to_owned(),
    }
}

#[tokio::test]
async fn messages_are_delivered_until_acknowledged_once_per_transaction() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    let bob2 = second_device(&server, &bob, "pw-bob-1").await;
    let from = next_batch(&server.sync(&bob, None, 0, None).await);
    let from2 = next_batch(&server.sync(&bob2, None, 0, None).await);

    send(
        &server,
        &alice,
        "t1",
        json!({ bob.user_id.clone(): { bob.device_id.clone(): { "n": 1 } } }),
    )
    .await;
    let first = server.sync(&bob, Some(&from), 5000, None).await;
    assert_eq!(numbers(&first), vec![1], "{first}");
    let event = &first["to_device"]["events"][0];
    assert_eq!(event["sender"], alice.user_id.as_str());
    assert_eq!(event["type"], "m.test.ping");
    // Not acknowledged yet (the same `since` again): delivered again.
    let again = server.sync(&bob, Some(&from), 0, None).await;
    assert_eq!(numbers(&again), vec![1], "{again}");
    // Acknowledged by the next `since`: gone. Bob's other device never got it.
    let after = server.sync(&bob, Some(&next_batch(&again)), 0, None).await;
    assert_eq!(numbers(&after), Vec::<u64>::new(), "{after}");
    let other = server.sync(&bob2, Some(&from2), 0, None).await;
    assert_eq!(numbers(&other), Vec::<u64>::new(), "{other}");

    // The same transaction id again is not a second message; `*` reaches every device; an
    // unknown device gets nothing, without an error.
    send(
        &server,
        &alice,
        "t1",
        json!({ bob.user_id.clone(): { bob.device_id.clone(): { "n": 1 } } }),
    )
    .await;
    send(
        &server,
        &alice,
        "t2",
        json!({ bob.user_id.clone(): { "*": { "n": 2 } } }),
    )
    .await;
    send(
        &server,
        &alice,
        "t3",
        json!({ bob.user_id.clone(): { "NOSUCHDEVICE": { "n": 3 } } }),
    )
    .await;
    let sync = server.sync(&bob, Some(&next_batch(&after)), 0, None).await;
    assert_eq!(numbers(&sync), vec![2], "{sync}");
    let sync2 = server.sync(&bob2, Some(&next_batch(&other)), 0, None).await;
    assert_eq!(numbers(&sync2), vec![2], "{sync2}");

    // 150 messages: 100 in one sync, the other 50 in the next, none twice, in order.
    let mut since = next_batch(&sync);
    server.sync(&bob, Some(&since), 0, None).await;
    for n in 0..150u64 {
        send(
            &server,
            &alice,
            &format!("bulk{n}"),
            json!({ bob.user_id.clone(): { bob.device_id.clone(): { "n": n } } }),
        )
        .await;
    }
    let mut received = Vec::new();
    for _ in 0..3 {
        let page = server.sync(&bob, Some(&since), 0, None).await;
        let got = numbers(&page);
        assert!(got.len() <= 100, "{} messages in one sync", got.len());
        received.extend(got);
        since = next_batch(&page);
    }
    assert_eq!(received, (0..150).collect::<Vec<_>>());

    // Malformed: 400, nothing queued.
    server
        .put(
            "/_matrix/client/v3/sendToDevice/m.test.ping/bad",
            Some(&alice.token),
            json!({ "messages": { "not-a-user-id": { "X": {} } } }),
        )
        .await
        .assert_error(400, "M_BAD_JSON");
}

/// Waits for Bob's next to-device messages after `since` (up to 30 s).
async fn wait_for_messages(server: &TestServer, bob: &TestUser, since: &str) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let sync = server.sync(bob, Some(since), 2000, None).await;
        if !numbers(&sync).is_empty() || std::time::Instant::now() > deadline {
            return sync;
        }
    }
}

#[tokio::test]
async fn messages_to_another_server_arrive_exactly_once_across_restarts() {
    let ca = TestCa::new();
    let mut a = TestServer::start_federating(&ca, |_| {}).await;
    let mut b = TestServer::start_federating(&ca, |_| {}).await;
    let alice = a.register("alice", "pw-alice-1").await;
    let bob = b.register("bob", "pw-bob-1").await;
    let from = next_batch(&b.sync(&bob, None, 0, None).await);

    // Delivered, then Bob's server restarts before he acknowledged: still there, once.
    send(&a, &alice, "f1", json!({ bob.user_id.clone(): { "*": { "n": 1 } } })).await;
    let first = wait_for_messages(&b, &bob, &from).await;
    assert_eq!(numbers(&first), vec![1], "{first}");
    b.restart().await;
    let after_restart = b.sync(&bob, Some(&from), 0, None).await;
    assert_eq!(numbers(&after_restart), vec![1], "{after_restart}");
    let since = next_batch(&after_restart);
    let acknowledged = b.sync(&bob, Some(&since), 0, None).await;
    assert_eq!(numbers(&acknowledged), Vec::<u64>::new());
    let since = next_batch(&acknowledged);

    // Sent while Bob's server is down, then Alice's server restarts: the message waits in
    // Alice's server's durable queue and arrives once Bob's server is back.
    b.stop().await;
    send(
        &a,
        &alice,
        "f2",
        json!({ bob.user_id.clone(): { bob.device_id.clone(): { "n": 2 } } }),
    )
    .await;
    a.stop().await;
    b.restart().await;
    a.restart().await;
    let second = wait_for_messages(&b, &bob, &since).await;
    assert_eq!(numbers(&second), vec![2], "{second}");
    let since = next_batch(&second);

    // The same message id in two transactions (a retry after a lost answer) is delivered once.
    let edu = json!({
        "edu_type": "m.direct_to_device",
        "content": {
            "sender": alice.user_id,
            "type": "m.test.ping",
            "message_id": format!("retry-{}", rand_id()),
            "messages": { bob.user_id.clone(): { "*": { "n": 3 } } },
        },
    });
    for _ in 0..2 {
        send_edus(&a, &b, vec![edu.clone()]).await;
    }
    let third = wait_for_messages(&b, &bob, &since).await;
    assert_eq!(numbers(&third), vec![3], "{third}");
    let rest = b.sync(&bob, Some(&next_batch(&third)), 1000, None).await;
    assert_eq!(numbers(&rest), Vec::<u64>::new(), "{rest}");

    // A to-device EDU naming a sender of another server is dropped.
    let forged = json!({
        "edu_type": "m.direct_to_device",
        "content": {
            "sender": "@mallory:elsewhere.example",
            "type": "m.test.ping",
            "message_id": "forged",
            "messages": { bob.user_id.clone(): { "*": { "n": 4 } } },
        },
    });
    send_edus(&a, &b, vec![forged]).await;
    let none = b.sync(&bob, Some(&next_batch(&rest)), 1000, None).await;
    assert_eq!(numbers(&none), Vec::<u64>::new(), "{none}");
}

/// Sends `edus` from `from` to `to` in one transaction of its own.
pub(crate) async fn send_edus(from: &TestServer, to: &TestServer, edus: Vec<Value>) {
    use ruma::api::federation::transactions::send_transaction_message::v1 as send_transaction;
    let federation = from.running().services.federation.as_ref().expect("federation");
    let txn = ruma::OwnedTransactionId::from(format!("edus-{}", rand_id()));
    let mut request = send_transaction::Request::new(txn, origin(from), ruma::MilliSecondsSinceUnixEpoch::now());
    request.edus = edus
        .iter()
        .map(|edu| ruma::serde::Raw::from_json(serde_json::value::to_raw_value(edu).expect("raw")))
        .collect();
    federation
        .client()
        .send(&origin(to), request)
        .await
        .expect("transaction accepted");
}
