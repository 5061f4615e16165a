//! Bad input over federation, beyond bad signatures and content hashes (see `federation.rs`):
//! a sender from another server than the signer, an event failing the authorization rules, a
//! body over the size limit, and a repeated transaction. Each is refused as the spec says,
//! nothing of it reaches clients, and the server keeps serving.

use accord_testkit::TestServer;
use ruma::CanonicalJsonValue as V;
use serde_json::json;

use crate::federation_support::{
    SharedRoom, forge, forge_with, id_of, origin, shared_room, shared_room_with, stored_pdu, transact, wait_for_bodies,
};

#[tokio::test]
async fn forged_senders_unauthorized_events_and_oversized_bodies_are_refused() {
    let SharedRoom { a, b, alice, bob, room } =
        shared_room_with("bad", |c| c.client_api.max_request_bytes = 32 * 1024).await;
    let hello = b.send_text(&bob, &room, "hello").await;
    wait_for_bodies(
        &a,
        &alice,
        &room,
        &["hello".to_owned()],
        std::time::Duration::from_secs(15),
    )
    .await;
    let based_on = stored_pdu(&b, &hello);

    // Signed by B, but claiming a sender on A: A's signature is missing.
    let alice_id = alice.user_id.clone();
    let impostor = forge_with(&b, &based_on, "impostor", |event| {
        event.insert("sender".to_owned(), V::String(alice_id));
    });
    // A user of B who never joined: fails the authorization rules.
    let stranger_id = format!("@stranger:{}", origin(&b));
    let stranger = forge_with(&b, &based_on, "stranger", |event| {
        event.insert("sender".to_owned(), V::String(stranger_id));
    });
    let valid = forge(&b, &based_on, "still fine");
    let ids = (id_of(&impostor), id_of(&stranger), id_of(&valid));
    let results = transact(&b, &a, vec![impostor, stranger, valid])
        .await
        .expect("transaction");
    assert!(matches!(results.get(&ids.0), Some(Err(_))), "impostor: {results:?}");
    assert!(matches!(results.get(&ids.1), Some(Err(_))), "stranger: {results:?}");
    assert_eq!(results.get(&ids.2), Some(&Ok(())), "{results:?}");

    // Over the body limit: 413 M_TOO_LARGE, before any PDU is looked at.
    let huge = forge(&b, &based_on, &"x".repeat(50 * 1024));
    let huge_id = id_of(&huge);
    let err = transact(&b, &a, vec![huge]).await.expect_err("over the limit");
    assert!(err.to_string().contains("413"), "{err}");

    let bodies = wait_for_bodies(
        &a,
        &alice,
        &room,
        &["still fine".to_owned()],
        std::time::Duration::from_secs(5),
    )
    .await;
    assert!(bodies.contains(&"still fine".to_owned()));
    for refused in ["impostor", "stranger"] {
        assert!(
            !bodies.iter().any(|b| b == refused),
            "{refused} must not be visible: {bodies:?}"
        );
    }
    assert!(
        !bodies.iter().any(|b| b.starts_with("xxxx")),
        "the oversized event is not stored"
    );
    for id in [&ids.0, &ids.1, &huge_id] {
        let reply = a
            .get(
                &format!("/_matrix/client/v3/rooms/{room}/event/{id}"),
                Some(&alice.token),
            )
            .await;
        assert_eq!(reply.status, 404, "{id}: {:?}", reply.body);
    }
    assert_eq!(a.get("/_matrix/client/versions", None).await.status, 200);
}

/// Who `server` says is typing in `room`, per `user`'s initial sync.
async fn typing_users(server: &TestServer, user: &accord_testkit::TestUser, room: &str) -> Vec<String> {
    let sync = server.sync(user, None, 0, None).await;
    sync["rooms"]["join"][room]["ephemeral"]["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["type"] == "m.typing")
        .flat_map(|e| e["content"]["user_ids"].as_array().cloned().unwrap_or_default())
        .filter_map(|u| u.as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn a_repeated_transaction_is_answered_again_not_applied_again() {
    use ruma::api::federation::transactions::send_transaction_message::v1 as send_transaction;

    let SharedRoom { a, b, alice, bob, room } = shared_room("again").await;
    let hello = b.send_text(&bob, &room, "hello").await;
    // The forged event builds on `hello`; B never stores it, so B could not answer A's
    // `/get_missing_events` for it: A must hold `hello` first.
    wait_for_bodies(
        &a,
        &alice,
        &room,
        &["hello".to_owned()],
        std::time::Duration::from_secs(10),
    )
    .await;
    let event = forge(&b, &stored_pdu(&b, &hello), "once");
    let event_id = id_of(&event);

    let federation = b.running().services.federation.as_ref().expect("federation");
    let bob_id = format!("@bob:{}", origin(&b));
    let transaction = |id: &str, typing: bool| {
        let mut request = send_transaction::Request::new(
            ruma::OwnedTransactionId::from(id),
            origin(&b),
            ruma::MilliSecondsSinceUnixEpoch::now(),
        );
        request.pdus = vec![serde_json::value::to_raw_value(&event).expect("raw")];
        let edu =
            json!({ "edu_type": "m.typing", "content": { "room_id": room, "user_id": bob_id, "typing": typing } });
        request.edus = vec![ruma::serde::Raw::from_json(
            serde_json::value::to_raw_value(&edu).expect("raw"),
        )];
        request
    };
    let first = federation
        .client()
        .send(&origin(&a), transaction("typing-on", true))
        .await
        .expect("first");
    assert_eq!(first.pdus.get(&event_id), Some(&Ok(())), "{:?}", first.pdus);
    assert_eq!(typing_users(&a, &alice, &room).await, vec![bob_id.clone()]);
    federation
        .client()
        .send(&origin(&a), transaction("typing-off", false))
        .await
        .expect("second");
    assert!(typing_users(&a, &alice, &room).await.is_empty());

    // The first transaction again: same answer, and Bob does not start typing again.
    let replay = federation
        .client()
        .send(&origin(&a), transaction("typing-on", true))
        .await
        .expect("replay");
    assert_eq!(replay.pdus, first.pdus);
    assert!(
        typing_users(&a, &alice, &room).await.is_empty(),
        "the replay was not applied"
    );
    let bodies = wait_for_bodies(
        &a,
        &alice,
        &room,
        &["once".to_owned()],
        std::time::Duration::from_secs(5),
    )
    .await;
    assert_eq!(bodies.iter().filter(|b| *b == "once").count(), 1, "{bodies:?}");
}
