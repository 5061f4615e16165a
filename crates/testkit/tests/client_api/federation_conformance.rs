//! Received events as other servers (Synapse first) build them, where they go beyond the
//! letter of the spec, and where Complement expects a server to cope with what it is sent.

use ruma::CanonicalJsonValue as V;
use serde_json::json;

use accord_testkit::urlencode;

use crate::federation_support::{SharedRoom, forge_with, id_of, shared_room, stored_pdu, transact};

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
