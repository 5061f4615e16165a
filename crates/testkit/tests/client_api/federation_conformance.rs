//! Federation as Complement tries it, beyond the basics in `federation*.rs`: received events
//! as other servers (Synapse first) build them where they go beyond the letter of the spec, and
//! what a server tells the servers it meets when its user joins their room.

use accord_testkit::{TestServer, ca::TestCa};
use ruma::CanonicalJsonValue as V;
use serde_json::json;

use accord_testkit::urlencode;

use crate::federation_support::{SharedRoom, forge_with, id_of, origin, shared_room, stored_pdu, transact};

/// TestOutboundFederationEventSizeGetMissingEvents: a state key of 70 four-byte emoji is 280
/// bytes but 70 code points. Synapse accepts it (its limit is 255 code points), so such events
/// exist in real rooms; refusing one would leave every later event of the room with a gap.
#[tokio::test]
async fn a_state_key_long_in_bytes_but_not_in_code_points_is_accepted() {
    let SharedRoom { a, b, alice, bob, room } = shared_room("breaker").await;
    // Bob may send state; his next message cites the new power levels among its auth events.
    let levels = format!("/_matrix/client/v3/rooms/{room}/state/m.room.power_levels/");
    let mut content = a.get(&levels, Some(&alice.token)).await.ok();
    content["users"][&bob.user_id] = json!(100);
    a.put(&levels, Some(&alice.token), content).await.ok();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while b.get(&levels, Some(&bob.token)).await.ok()["users"][&bob.user_id] != json!(100) {
        assert!(std::time::Instant::now() < deadline, "B never saw Bob's power");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let hello = b.send_text(&bob, &room, "before the breaker").await;
    let hello_json = stored_pdu(&b, &hello);
    let state_key = "💥".repeat(70);
    let breaker = forge_with(&b, &hello_json, "", |event| {
        event.insert("type".to_owned(), V::String("my.room.breaker".to_owned()));
        event.insert("state_key".to_owned(), V::String(state_key.clone()));
        event.insert(
            "content".to_owned(),
            V::Object([("boom".to_owned(), V::Bool(true))].into()),
        );
    });
    let after = forge_with(&b, &breaker, "Message 2", |event| {
        event.insert("type".to_owned(), V::String("m.room.message".to_owned()));
        event.remove("state_key");
        event.insert(
            "content".to_owned(),
            V::Object(
                [
                    ("msgtype".to_owned(), V::String("m.text".to_owned())),
                    ("body".to_owned(), V::String("Message 2".to_owned())),
                ]
                .into(),
            ),
        );
    });
    let results = transact(&b, &a, vec![breaker.clone(), after.clone()])
        .await
        .expect("transaction");
    assert_eq!(results.get(&id_of(&breaker)), Some(&Ok(())), "{results:?}");
    assert_eq!(results.get(&id_of(&after)), Some(&Ok(())), "{results:?}");
    let state = a
        .get(
            &format!(
                "/_matrix/client/v3/rooms/{room}/state/my.room.breaker/{}",
                urlencode(&state_key)
            ),
            Some(&alice.token),
        )
        .await;
    assert_eq!(state.status, 200, "{:?}", state.body);
    assert_eq!(state.body, json!({ "boom": true }));

    // 256 code points is over Synapse's limit too.
    let too_long = forge_with(&b, &after, "", |event| {
        event.insert("type".to_owned(), V::String("my.room.breaker".to_owned()));
        event.insert("state_key".to_owned(), V::String("💥".repeat(256)));
        event.insert("content".to_owned(), V::Object(Default::default()));
    });
    let results = transact(&b, &a, vec![too_long.clone()]).await.expect("transaction");
    assert!(matches!(results.get(&id_of(&too_long)), Some(Err(_))), "{results:?}");
}

/// TestDeviceListsUpdateOverFederationOnRoomJoin: when Alice joins a room whose servers shared
/// no room with her, each of them is sent her devices (an `m.device_list_update` per device)
/// without waiting for her next device change. C is down, so what A queued for it stays to be
/// read.
#[tokio::test]
async fn a_join_announces_the_joiners_devices_to_servers_met_through_the_room() {
    let ca = TestCa::new();
    let a = TestServer::start_federating(&ca, |_| {}).await;
    let b = TestServer::start_federating(&ca, |_| {}).await;
    let mut c = TestServer::start_federating(&ca, |_| {}).await;
    let alice = a.register("alice", "pw-alice-1").await;
    let bob = b.register("bob", "pw-bob-1").await;
    let carol = c.register("carol", "pw-carol-1").await;
    let device_id = alice.device_id.clone();
    let keys = json!({
        "device_keys": {
            "user_id": alice.user_id, "device_id": device_id,
            "algorithms": ["m.olm.v1.curve25519-aes-sha2"],
            "keys": { format!("curve25519:{device_id}"): "Y3VydmU", format!("ed25519:{device_id}"): "ZWQyNTUxOQ" },
            "signatures": {},
        }
    });
    a.post("/_matrix/client/v3/keys/upload", Some(&alice.token), keys)
        .await
        .ok();

    // Alice already shares a room with B; C's Carol joins Bob's room, then C goes down.
    let with_b = a.create_room(&alice, json!({ "preset": "public_chat" })).await;
    b.post(
        &format!("/_matrix/client/v3/join/{with_b}?via={}", origin(&a)),
        Some(&bob.token),
        json!({}),
    )
    .await
    .ok();
    crate::federation_membership::wait_membership(&a, &alice, &with_b, &bob.user_id, "join").await;
    let room = b.create_room(&bob, json!({ "preset": "public_chat" })).await;
    c.post(
        &format!("/_matrix/client/v3/join/{room}?via={}", origin(&b)),
        Some(&carol.token),
        json!({}),
    )
    .await
    .ok();
    crate::federation_membership::wait_membership(&b, &bob, &room, &carol.user_id, "join").await;
    // A learns C's signing key (verifying C's signed request), so it can still check Carol's
    // join in the room's state once C is down.
    let profile = c
        .get(
            &format!("/_matrix/client/v3/profile/{}", alice.user_id),
            Some(&carol.token),
        )
        .await;
    assert_eq!(profile.status, 200, "{:?}", profile.body);
    c.stop().await;

    let db = a.running().services.rooms.rooms().db().clone();
    let device_updates = |server: &TestServer| -> Vec<serde_json::Value> {
        db.durable_edus_for(&origin(server), 1000)
            .expect("queue")
            .into_iter()
            .map(|(_, edu)| edu)
            .filter(|edu| edu["edu_type"] == "m.device_list_update")
            .collect()
    };
    assert!(device_updates(&c).is_empty(), "A has told C nothing yet");
    let joined = a
        .post(
            &format!("/_matrix/client/v3/join/{room}?via={}", origin(&b)),
            Some(&alice.token),
            json!({}),
        )
        .await;
    assert_eq!(joined.status, 200, "{:?}", joined.body);
    let for_c = device_updates(&c);
    assert_eq!(for_c.len(), 1, "{for_c:?}");
    let content = &for_c[0]["content"];
    assert_eq!(content["user_id"], alice.user_id.as_str());
    assert_eq!(content["device_id"], device_id.as_str());
    assert_eq!(content["keys"]["keys"][format!("ed25519:{device_id}")], "ZWQyNTUxOQ");
}
