//! Transactions to application services (spec: "Pushing events"): the events of rooms and
//! users a service is interested in, once each and in order, with its `hs_token`; receipts,
//! typing and to-device messages when it asked for them; users it is asked about before it
//! hears of them; nothing lost while it is down, across a restart.

use std::collections::BTreeSet;

use accord_testkit::{TestServer, urlencode};
use serde_json::{Value, json};

use crate::appservice_support::{
    AS_TOKEN, HS_TOKEN, TestAppservice, bridged_room, registration_with, server_with_bridge, server_with_registration,
};

/// A bridge user with a logged-in device: (user id, device id).
async fn bridge_user_with_device(server: &TestServer, name: &str) -> (String, String) {
    server
        .post(
            "/_matrix/client/v3/register",
            Some(AS_TOKEN),
            json!({ "type": "m.login.application_service", "username": name, "inhibit_login": true }),
        )
        .await
        .ok();
    let login = server
        .post(
            "/_matrix/client/v3/login",
            Some(AS_TOKEN),
            json!({ "type": "m.login.application_service", "identifier": { "type": "m.id.user", "user": name } }),
        )
        .await
        .ok();
    (
        login["user_id"].as_str().expect("user").to_owned(),
        login["device_id"].as_str().expect("device").to_owned(),
    )
}

fn bodies(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["type"] == "m.room.message")
        .filter_map(|e| e["content"]["body"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn events_reach_the_service_once_in_order_with_its_token() {
    let appservice = TestAppservice::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let server = server_with_bridge(&dir, Some(&appservice.url)).await;
    let (alice, room) = bridged_room(&server).await;
    for i in 0..5 {
        server.send_text(&alice, &room, &format!("hello {i}")).await;
    }
    // Inviting a bridge user nobody registered: the service is asked about it first.
    server
        .post(
            &format!("/_matrix/client/v3/rooms/{}/invite", urlencode(&room)),
            Some(&alice.token),
            json!({ "user_id": "@bridge_bob:localhost" }),
        )
        .await
        .ok();
    server.send_text(&alice, &room, "last").await;
    appservice.wait_for_message("last").await;

    let events = appservice.events();
    assert_eq!(
        bodies(&events),
        ["hello 0", "hello 1", "hello 2", "hello 3", "hello 4", "last"],
        "every message once, in order"
    );
    let ids: Vec<&str> = events.iter().filter_map(|e| e["event_id"].as_str()).collect();
    assert_eq!(ids.len(), ids.iter().collect::<BTreeSet<_>>().len(), "no event twice");
    let message = events
        .iter()
        .find(|e| e["content"]["body"] == "hello 0")
        .expect("message");
    assert_eq!(message["user_id"], alice.user_id, "the legacy user_id is the sender");
    assert!(
        message["age"].is_u64() && message["unsigned"]["age"].is_u64(),
        "{message}"
    );
    assert_eq!(message["room_id"], room.as_str());
    // The bot's own join is pushed back to it, as Synapse does.
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "m.room.member" && e["state_key"] == "@bridgebot:localhost")
    );

    let received = appservice.received();
    for request in &received {
        assert_eq!(request.authorization, format!("Bearer {HS_TOKEN}"), "{request:?}");
    }
    let query = received
        .iter()
        .position(|r| r.kind == "user" && r.param == "@bridge_bob:localhost")
        .expect("the service was asked about @bridge_bob");
    let invite = received
        .iter()
        .position(|r| {
            r.kind == "transaction"
                && r.body["events"]
                    .as_array()
                    .is_some_and(|events| events.iter().any(|e| e["state_key"] == "@bridge_bob:localhost"))
        })
        .expect("the invite reached the service");
    assert!(query < invite, "asked about the user before hearing of the invite");
    // Transaction ids never repeat.
    let txn_ids: Vec<String> = appservice.transactions().into_iter().map(|(id, _)| id).collect();
    assert_eq!(txn_ids.len(), txn_ids.iter().collect::<BTreeSet<_>>().len());
}

#[tokio::test]
async fn rooms_without_the_services_users_stay_private() {
    let appservice = TestAppservice::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let server = server_with_bridge(&dir, Some(&appservice.url)).await;
    let carol = server.register("carol", "password-carol").await;
    let private = server.create_room(&carol, json!({})).await;
    server.send_text(&carol, &private, "not for the bridge").await;
    let (alice, room) = bridged_room(&server).await;
    server.send_text(&alice, &room, "for the bridge").await;
    appservice.wait_for_message("for the bridge").await;
    assert!(
        appservice.events().iter().all(|e| e["room_id"] != private.as_str()),
        "no event of a room without the service's users"
    );
}

#[tokio::test]
async fn receipts_typing_presence_and_to_device_messages_reach_the_service() {
    let appservice = TestAppservice::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let server = server_with_bridge(&dir, Some(&appservice.url)).await;
    let (alice, room) = bridged_room(&server).await;
    let (bridge_user, bridge_device) = bridge_user_with_device(&server, "bridge_dave").await;
    let event = server.send_text(&alice, &room, "read me").await;
    server
        .post(
            &format!(
                "/_matrix/client/v3/rooms/{}/receipt/m.read/{}",
                urlencode(&room),
                urlencode(&event)
            ),
            Some(&alice.token),
            json!({}),
        )
        .await
        .ok();
    server
        .put(
            &format!(
                "/_matrix/client/v3/rooms/{}/typing/{}",
                urlencode(&room),
                urlencode(&alice.user_id)
            ),
            Some(&alice.token),
            json!({ "typing": true, "timeout": 30000 }),
        )
        .await
        .ok();
    server
        .put(
            &format!("/_matrix/client/v3/presence/{}/status", urlencode(&alice.user_id)),
            Some(&alice.token),
            json!({ "presence": "online", "status_msg": "bridging" }),
        )
        .await
        .ok();
    server
        .put(
            "/_matrix/client/v3/sendToDevice/m.test.secret/td1",
            Some(&alice.token),
            json!({ "messages": { bridge_user.as_str(): { bridge_device.as_str(): { "n": 1 } } } }),
        )
        .await
        .ok();

    let ephemeral_of = |received: &[crate::appservice_support::Received], kind: &str| {
        received
            .iter()
            .filter(|r| r.kind == "transaction")
            .flat_map(|r| r.body["ephemeral"].as_array().cloned().unwrap_or_default())
            .filter(|e| e["type"] == kind)
            .collect::<Vec<Value>>()
    };
    let received = appservice
        .wait_until("a receipt, typing, presence and a to-device message", |received| {
            !ephemeral_of(received, "m.receipt").is_empty()
                && !ephemeral_of(received, "m.typing").is_empty()
                && !ephemeral_of(received, "m.presence").is_empty()
                && received.iter().any(|r| {
                    r.body["de.sorunome.msc2409.to_device"]
                        .as_array()
                        .is_some_and(|list| !list.is_empty())
                })
        })
        .await;
    let receipt = &ephemeral_of(&received, "m.receipt")[0];
    assert_eq!(receipt["room_id"], room.as_str());
    assert!(
        receipt["content"][&event]["m.read"][&alice.user_id]["ts"].is_u64(),
        "{receipt}"
    );
    let typing = ephemeral_of(&received, "m.typing")
        .into_iter()
        .find(|t| t["content"]["user_ids"].as_array().is_some_and(|u| !u.is_empty()))
        .expect("alice typing");
    assert_eq!(typing["room_id"], room.as_str());
    let presence = &ephemeral_of(&received, "m.presence")[0];
    assert_eq!(
        (
            &presence["sender"],
            &presence["content"]["presence"],
            &presence["content"]["status_msg"]
        ),
        (&json!(alice.user_id), &json!("online"), &json!("bridging"))
    );
    // The unstable name of the list too, for older bridges.
    let with_receipt = received
        .iter()
        .find(|r| {
            r.body["ephemeral"]
                .as_array()
                .is_some_and(|l| l.iter().any(|e| e["type"] == "m.receipt"))
        })
        .expect("transaction");
    assert_eq!(
        with_receipt.body["ephemeral"],
        with_receipt.body["de.sorunome.msc2409.ephemeral"]
    );
    let message = received
        .iter()
        .flat_map(|r| {
            r.body["de.sorunome.msc2409.to_device"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .next()
        .expect("to-device");
    assert_eq!(
        (
            &message["type"],
            &message["sender"],
            &message["to_user_id"],
            &message["to_device_id"],
            &message["content"]["n"]
        ),
        (
            &json!("m.test.secret"),
            &json!(alice.user_id),
            &json!(bridge_user),
            &json!(bridge_device),
            &json!(1)
        )
    );
}

#[tokio::test]
async fn a_service_that_is_down_loses_nothing_across_a_restart() {
    let appservice = TestAppservice::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let mut server = server_with_bridge(&dir, Some(&appservice.url)).await;
    let (alice, room) = bridged_room(&server).await;
    let (bridge_user, bridge_device) = bridge_user_with_device(&server, "bridge_erin").await;
    server.send_text(&alice, &room, "before").await;
    appservice.wait_for_message("before").await;

    appservice.set_down(true);
    let mut sent = Vec::new();
    for i in 0..200 {
        let text = format!("while down {i}");
        let event = server.send_text(&alice, &room, &text).await;
        if i % 50 == 49 {
            server
                .post(
                    &format!(
                        "/_matrix/client/v3/rooms/{}/receipt/m.read/{}",
                        urlencode(&room),
                        urlencode(&event)
                    ),
                    Some(&alice.token),
                    json!({}),
                )
                .await
                .ok();
        }
        sent.push(text);
    }
    for i in 0..20 {
        server
            .put(
                &format!("/_matrix/client/v3/sendToDevice/m.test.secret/down{i}"),
                Some(&alice.token),
                json!({ "messages": { bridge_user.as_str(): { bridge_device.as_str(): { "n": i } } } }),
            )
            .await
            .ok();
    }
    // The service refused at least one transaction while down.
    appservice
        .wait_until("a refused attempt", |_| {
            appservice.attempts().len() > appservice.transactions().len()
        })
        .await;
    server.restart().await;
    appservice.set_down(false);
    let last = sent.last().expect("sent").clone();
    appservice.wait_for_message(&last).await;
    let received = appservice
        .wait_until("20 to-device messages", |received| {
            received
                .iter()
                .map(|r| r.body["de.sorunome.msc2409.to_device"].as_array().map_or(0, Vec::len))
                .sum::<usize>()
                >= 20
        })
        .await;

    let events = appservice.events();
    let expected: Vec<String> = std::iter::once("before".to_owned()).chain(sent).collect();
    assert_eq!(bodies(&events), expected, "all 200 events, in order, each once");
    let to_device: Vec<i64> = received
        .iter()
        .flat_map(|r| {
            r.body["de.sorunome.msc2409.to_device"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|m| m["content"]["n"].as_i64())
        .collect();
    assert_eq!(
        to_device,
        (0..20).collect::<Vec<i64>>(),
        "every to-device message once, in order"
    );
    let receipts: usize = received
        .iter()
        .flat_map(|r| r.body["ephemeral"].as_array().cloned().unwrap_or_default())
        .filter(|e| e["type"] == "m.receipt")
        .count();
    assert!(receipts >= 1, "the receipts sent while it was down arrive");
    // A retried transaction is the same transaction: every id has one body.
    for (txn_id, body) in appservice.attempts() {
        let accepted = appservice
            .transactions()
            .into_iter()
            .find(|(id, _)| *id == txn_id)
            .unwrap_or_else(|| panic!("transaction {txn_id} was retried until accepted"));
        assert_eq!(
            accepted.1["events"], body["events"],
            "transaction {txn_id} changed between attempts"
        );
    }
}

#[tokio::test]
async fn an_alias_in_the_namespace_is_asked_of_the_service() {
    let appservice = TestAppservice::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let server = server_with_bridge(&dir, Some(&appservice.url)).await;
    // The test service knows no rooms: asked, it says no, and the alias stays unknown.
    server
        .get(
            &format!(
                "/_matrix/client/v3/directory/room/{}",
                urlencode("#bridge_unknown:localhost")
            ),
            None,
        )
        .await
        .assert_error(404, "M_NOT_FOUND");
    let asked = appservice.received();
    assert!(
        asked
            .iter()
            .any(|r| r.kind == "alias" && r.param == "#bridge_unknown:localhost"),
        "{asked:?}"
    );
    // An alias outside the namespace is not asked about.
    server
        .get(
            &format!("/_matrix/client/v3/directory/room/{}", urlencode("#other:localhost")),
            None,
        )
        .await
        .assert_error(404, "M_NOT_FOUND");
    assert!(!appservice.received().iter().any(|r| r.param == "#other:localhost"));
}

#[tokio::test]
async fn an_encrypting_bridge_hears_of_device_lists_and_key_counts() {
    let appservice = TestAppservice::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let registration = registration_with(Some(&appservice.url), "org.matrix.msc3202: true");
    let server = server_with_registration(&dir, &registration).await;
    let (alice, room) = bridged_room(&server).await;
    let (bridge_user, bridge_device) = bridge_user_with_device(&server, "bridge_frank").await;
    let as_device = |path: &str| {
        format!(
            "{path}?user_id={}&device_id={}",
            urlencode(&bridge_user),
            urlencode(&bridge_device)
        )
    };
    server
        .post(
            &as_device("/_matrix/client/v3/keys/upload"),
            Some(AS_TOKEN),
            json!({ "one_time_keys": crate::e2ee_keys::one_time_keys("b", 3) }),
        )
        .await
        .ok();
    server
        .post(
            &format!("/_matrix/client/v3/join/{}", urlencode(&room)),
            Some(AS_TOKEN),
            json!({}),
        )
        .await
        .ok();
    server
        .post(
            &as_device(&format!("/_matrix/client/v3/join/{}", urlencode(&room))),
            Some(AS_TOKEN),
            json!({}),
        )
        .await
        .ok();
    // Alice renames her device: her device list changes.
    server
        .put(
            &format!("/_matrix/client/v3/devices/{}", urlencode(&alice.device_id)),
            Some(&alice.token),
            json!({ "display_name": "Alice's laptop" }),
        )
        .await
        .ok();
    server.send_text(&alice, &room, "after the new device").await;

    let received = appservice
        .wait_until("alice's device list change", |received| {
            received.iter().any(|r| {
                r.body["org.matrix.msc3202.device_lists"]["changed"]
                    .as_array()
                    .is_some_and(|users| users.iter().any(|u| *u == json!(alice.user_id)))
            })
        })
        .await;
    let counts = received
        .iter()
        .find_map(|r| {
            let count = &r.body["org.matrix.msc3202.device_one_time_keys_count"][&bridge_user][&bridge_device];
            (!count.is_null()).then(|| (count.clone(), r.body.clone()))
        })
        .expect("the bridge user's key counts");
    assert_eq!(counts.0["signed_curve25519"], 3, "{}", counts.1);
    assert_eq!(
        counts.1["org.matrix.msc3202.device_one_time_key_counts"],
        counts.1["org.matrix.msc3202.device_one_time_keys_count"]
    );
}
