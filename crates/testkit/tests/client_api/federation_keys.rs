//! Signing keys across servers: rotation (the old key stays published with the time it
//! expired, and events it signs after that are refused), and keys fetched through a trusted
//! key server when their owner is down (without one, that owner's events are left out).

use std::time::Duration;

use accord_testkit::{TestServer, ca::TestCa};
use base64::{Engine, engine::general_purpose::STANDARD};
use ruma::{
    CanonicalJsonValue as V, api::federation::discovery::get_server_keys::v2 as get_server_keys,
    signatures::Ed25519KeyPair,
};
use serde_json::{Value, json};

use crate::federation_support::{forge_with, id_of, origin, shared_room, stored_pdu, transact, wait_for_bodies};

/// A's key answer as B fetches it.
async fn key_answer(from: &TestServer, of: &TestServer) -> Value {
    let federation = from.running().services.federation.as_ref().expect("federation");
    let response = federation
        .client()
        .send(&origin(of), get_server_keys::Request::new())
        .await
        .expect("key answer");
    serde_json::from_str(response.server_key.json().get()).expect("json")
}

/// `event` re-signed by `server` with `key` instead of the server's current key.
fn resign(mut event: ruma::CanonicalJsonObject, server: &str, key: &Ed25519KeyPair) -> ruma::CanonicalJsonObject {
    event.remove("signatures");
    event.remove("hashes");
    let rules = ruma::RoomVersionId::V11.rules().expect("rules");
    ruma::signatures::hash_and_sign_event(server, key, &mut event, &rules.redaction).expect("sign");
    event
}

#[tokio::test]
async fn a_rotated_key_stays_published_and_refuses_events_signed_after_it_expired() {
    let mut shared = shared_room("rotation").await;
    let (a, b) = (&mut shared.a, &shared.b);
    let before = a
        .send_text(&shared.alice, &shared.room, "signed by the first key")
        .await;
    wait_for_bodies(
        b,
        &shared.bob,
        &shared.room,
        &["signed by the first key".to_owned()],
        Duration::from_secs(20),
    )
    .await;

    // Rotate on the stopped server, keeping the old private key to forge with below.
    a.stop().await;
    let db = accord_server::open_database(&a.config).expect("open A's database");
    let old = db.get_signing_key().expect("read").expect("key");
    let old_key =
        Ed25519KeyPair::from_der(&STANDARD.decode(&old.pkcs8).expect("base64"), old.version.clone()).expect("old key");
    let new_key_id = accord_service::identity::rotate(&db).expect("rotate");
    drop(db);
    a.restart().await;
    let old_key_id = format!("ed25519:{}", old.version);
    assert_ne!(new_key_id, old_key_id);

    let answer = key_answer(b, a).await;
    assert!(answer["verify_keys"][&new_key_id]["key"].is_string(), "{answer}");
    assert!(answer["verify_keys"].get(&old_key_id).is_none(), "{answer}");
    let expired_ts = answer["old_verify_keys"][&old_key_id]["expired_ts"]
        .as_u64()
        .unwrap_or_else(|| panic!("old key published with expired_ts: {answer}"));
    assert_eq!(
        answer["old_verify_keys"][&old_key_id]["key"],
        json!(STANDARD.encode(old_key.public_key()).trim_end_matches('=')),
    );

    // New events (new key) still reach B, which fetches the new key.
    let after = a
        .send_text(&shared.alice, &shared.room, "signed by the second key")
        .await;
    let bodies = wait_for_bodies(
        b,
        &shared.bob,
        &shared.room,
        &["signed by the second key".to_owned()],
        Duration::from_secs(20),
    )
    .await;
    assert!(bodies.contains(&"signed by the second key".to_owned()), "{bodies:?}");

    // The first key still verifies events from before it expired...
    let base = stored_pdu(a, after.as_str());
    let timely = resign(
        forge_with(a, &base, "old key, before expiry", |event| {
            event.insert(
                "origin_server_ts".to_owned(),
                V::Integer(ruma::Int::try_from(expired_ts - 1).expect("ts")),
            );
        }),
        origin(a).as_str(),
        &old_key,
    );
    // ...but not events after it.
    let late = resign(
        forge_with(a, &base, "old key, after expiry", |_| {}),
        origin(a).as_str(),
        &old_key,
    );
    let results = transact(a, b, vec![timely.clone(), late.clone()])
        .await
        .expect("transaction");
    assert!(results[&id_of(&timely)].is_ok(), "{results:?}");
    let refusal = results[&id_of(&late)].as_ref().expect_err("late event refused");
    assert!(refusal.contains("valid until"), "{refusal}");
    let bodies = wait_for_bodies(
        b,
        &shared.bob,
        &shared.room,
        &["old key, before expiry".to_owned()],
        Duration::from_secs(10),
    )
    .await;
    assert!(bodies.contains(&"old key, before expiry".to_owned()), "{bodies:?}");
    assert!(!bodies.contains(&"old key, after expiry".to_owned()), "{bodies:?}");
    b.get(
        &format!("/_matrix/client/v3/rooms/{}/event/{}", shared.room, id_of(&late)),
        Some(&shared.bob.token),
    )
    .await
    .assert_error(404, "M_NOT_FOUND");
    // The event signed before the rotation is still served and verifiable by B's history.
    assert!(
        b.get(
            &format!("/_matrix/client/v3/rooms/{}/event/{before}", shared.room),
            Some(&shared.bob.token)
        )
        .await
        .status
            == 200
    );
}

#[tokio::test]
async fn keys_come_from_a_trusted_key_server_when_their_owner_is_down() {
    let ca = TestCa::new();
    let c = TestServer::start_federating(&ca, |_| {}).await;
    let mut b = TestServer::start_federating(&ca, |_| {}).await;
    let trusting =
        TestServer::start_federating(&ca, |config| config.federation.trusted_key_servers = vec![origin(&c)]).await;
    let untrusting = TestServer::start_federating(&ca, |_| {}).await;
    let carol = c.register("carol", "pw-carol-1").await;
    let bob = b.register("bob", "pw-bob-1").await;
    let room = c
        .create_room(&carol, json!({ "preset": "public_chat", "room_alias_name": "notary" }))
        .await;
    let alias = format!("#notary:{}", origin(&c));
    b.join(&bob, &alias).await.ok();

    // B's join event is in the room state, signed by B; B goes away.
    b.stop().await;

    // Without a trusted key server B's join can't be verified: the join still succeeds (the
    // rest of the state authorises it), with B's event left out (Synapse does the same;
    // Complement's TestJoinFederatedRoomWithUnverifiableEvents).
    let dave = untrusting.register("dave", "pw-dave-1").await;
    let joined = untrusting.join(&dave, &alias).await;
    assert_eq!(joined.status, 200, "{joined:?}");
    let members = untrusting
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/joined_members"),
            Some(&dave.token),
        )
        .await
        .ok();
    assert!(members["joined"].get(bob.user_id.as_str()).is_none(), "{members}");
    assert!(members["joined"].get(carol.user_id.as_str()).is_some(), "{members}");

    let tom = trusting.register("tom", "pw-tom-1").await;
    trusting.join(&tom, &alias).await.ok();
    let members = trusting
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/joined_members"),
            Some(&tom.token),
        )
        .await
        .ok();
    assert!(members["joined"].get(bob.user_id.as_str()).is_some(), "{members}");
}
