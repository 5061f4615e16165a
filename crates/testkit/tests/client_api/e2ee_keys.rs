//! End-to-end encryption keys: upload (shape checked), query and claim, locally and from
//! another server, and the counts in `/sync`.

use std::time::Duration;

use accord_testkit::{TestServer, TestUser, ca::TestCa};
use ruma::{CanonicalJsonObject, signatures::Ed25519KeyPair};
use serde_json::{Value, json};

use crate::federation_support::origin;

/// A device's identity keys for `user`'s device `device_id`, signed by `signer` (the device's
/// own key unless a test wants otherwise). Returns the keys and the device's key pair.
pub(crate) fn device_keys(
    user: &TestUser,
    device_id: &str,
    signer: Option<&Ed25519KeyPair>,
) -> (Value, Ed25519KeyPair) {
    let key = Ed25519KeyPair::from_der(&Ed25519KeyPair::generate(), device_id.to_owned()).expect("key pair");
    let public = base64_unpadded(&key.public_key());
    let mut object: CanonicalJsonObject = serde_json::from_value(json!({
        "user_id": user.user_id,
        "device_id": device_id,
        "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
        "keys": {
            format!("curve25519:{device_id}"): "dGVzdCBjdXJ2ZSBrZXkgb2YgMzIgYnl0ZXMgbG9uZyE",
            format!("ed25519:{device_id}"): public,
        },
    }))
    .expect("object");
    ruma::signatures::sign_json(&user.user_id, signer.unwrap_or(&key), &mut object).expect("sign");
    (serde_json::to_value(object).expect("json"), key)
}

pub(crate) fn base64_unpadded(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes)
}

pub(crate) fn one_time_keys(prefix: &str, n: usize) -> Value {
    let mut keys = serde_json::Map::new();
    for i in 0..n {
        keys.insert(
            format!("signed_curve25519:{prefix}{i}"),
            json!({ "key": format!("{prefix}-otk-{i}"), "signatures": {} }),
        );
    }
    Value::Object(keys)
}

pub(crate) async fn upload(server: &TestServer, user: &TestUser, body: Value) -> accord_testkit::Reply {
    server
        .post("/_matrix/client/v3/keys/upload", Some(&user.token), body)
        .await
}

#[tokio::test]
async fn uploaded_keys_are_checked_queried_and_claimed_once() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;

    // Without `algorithms` and `keys`: 400 M_BAD_JSON (Complement's TestUploadKey).
    let shapeless = json!({ "user_id": alice.user_id, "device_id": alice.device_id });
    upload(&server, &alice, json!({ "device_keys": shapeless }))
        .await
        .assert_error(400, "M_BAD_JSON");
    // Signatures are for clients to check, as on Synapse: keys signed by another key, or not
    // at all, are stored (TestDeviceListUpdates uploads unsigned keys).
    let stranger = Ed25519KeyPair::from_der(&Ed25519KeyPair::generate(), alice.device_id.clone()).expect("key pair");
    let (foreign, _) = device_keys(&alice, &alice.device_id, Some(&stranger));
    upload(&server, &alice, json!({ "device_keys": foreign })).await.ok();
    // Naming another device or user: 400 M_INVALID_PARAM.
    let (other_device, _) = device_keys(&alice, "NOTMINE", None);
    upload(&server, &alice, json!({ "device_keys": other_device }))
        .await
        .assert_error(400, "M_INVALID_PARAM");
    let (bobs, _) = device_keys(&bob, &alice.device_id, None);
    upload(&server, &alice, json!({ "device_keys": bobs }))
        .await
        .assert_error(400, "M_INVALID_PARAM");

    let (keys, _) = device_keys(&alice, &alice.device_id, None);
    let counts = upload(
        &server,
        &alice,
        json!({
            "device_keys": keys,
            "one_time_keys": one_time_keys("a", 2),
            "fallback_keys": { "signed_curve25519:fb": { "key": "fallback", "fallback": true, "signatures": {} } },
        }),
    )
    .await
    .ok();
    assert_eq!(counts["one_time_key_counts"]["signed_curve25519"], 2);
    let sync = server.sync(&alice, None, 0, None).await;
    assert_eq!(sync["device_one_time_keys_count"]["signed_curve25519"], 2);
    assert_eq!(sync["device_unused_fallback_key_types"], json!(["signed_curve25519"]));

    // Bob sees Alice's device keys as uploaded, with its display name.
    server
        .put(
            &format!("/_matrix/client/v3/devices/{}", alice.device_id),
            Some(&alice.token),
            json!({ "display_name": "Alice's laptop" }),
        )
        .await
        .ok();
    let queried = server
        .post(
            "/_matrix/client/v3/keys/query",
            Some(&bob.token),
            json!({ "device_keys": { alice.user_id.clone(): [] } }),
        )
        .await
        .ok();
    let device = &queried["device_keys"][&alice.user_id][&alice.device_id];
    assert_eq!(device["keys"], keys["keys"]);
    assert_eq!(device["signatures"], keys["signatures"]);
    assert_eq!(device["unsigned"]["device_display_name"], "Alice's laptop");

    // Two one-time keys, each once; then the fallback key, again and again.
    let claim = json!({ "one_time_keys": { alice.user_id.clone(): { alice.device_id.clone(): "signed_curve25519" } } });
    let mut claimed = Vec::new();
    for _ in 0..4 {
        let answer = server
            .post("/_matrix/client/v3/keys/claim", Some(&bob.token), claim.clone())
            .await
            .ok();
        let keys = answer["one_time_keys"][&alice.user_id][&alice.device_id]
            .as_object()
            .expect("a key")
            .clone();
        claimed.push(keys.keys().next().expect("key id").clone());
    }
    assert_eq!(
        claimed[0..2].iter().collect::<std::collections::BTreeSet<_>>().len(),
        2,
        "{claimed:?}"
    );
    assert!(claimed[0].starts_with("signed_curve25519:a"));
    assert_eq!(claimed[2], "signed_curve25519:fb");
    assert_eq!(claimed[3], "signed_curve25519:fb");
    let sync = server.sync(&alice, None, 0, None).await;
    // A zero count for signed_curve25519 is sent, as Synapse does (Element's crypto needs it).
    assert_eq!(sync["device_one_time_keys_count"], json!({ "signed_curve25519": 0 }));
    assert_eq!(sync["device_unused_fallback_key_types"], json!([]));

    // A device without keys: an empty result, not an error.
    let nothing = server
        .post(
            "/_matrix/client/v3/keys/claim",
            Some(&alice.token),
            json!({ "one_time_keys": { bob.user_id.clone(): { bob.device_id.clone(): "signed_curve25519" } } }),
        )
        .await
        .ok();
    assert_eq!(nothing["one_time_keys"], json!({}));

    // A one-time key id reused with other content is refused; the same content is accepted.
    upload(&server, &alice, json!({ "one_time_keys": one_time_keys("z", 1) }))
        .await
        .ok();
    upload(&server, &alice, json!({ "one_time_keys": one_time_keys("z", 1) }))
        .await
        .ok();
    upload(
        &server,
        &alice,
        json!({ "one_time_keys": { "signed_curve25519:z0": { "key": "different", "signatures": {} } } }),
    )
    .await
    .assert_error(400, "M_INVALID_PARAM");

    // Logging out deletes the device's keys.
    server
        .post("/_matrix/client/v3/logout", Some(&alice.token), json!({}))
        .await
        .ok();
    let after = server
        .post(
            "/_matrix/client/v3/keys/query",
            Some(&bob.token),
            json!({ "device_keys": { alice.user_id.clone(): [] } }),
        )
        .await
        .ok();
    assert_eq!(after["device_keys"][&alice.user_id], json!({}));
}

#[tokio::test]
async fn keys_of_users_on_another_server_are_queried_and_claimed_through_it() {
    let ca = TestCa::new();
    let a = TestServer::start_federating(&ca, |_| {}).await;
    let mut b = TestServer::start_federating(&ca, |_| {}).await;
    let alice = a.register("alice", "pw-alice-1").await;
    let bob = b.register("bob", "pw-bob-1").await;
    let (keys, _) = device_keys(&bob, &bob.device_id, None);
    upload(
        &b,
        &bob,
        json!({ "device_keys": keys, "one_time_keys": one_time_keys("b", 1) }),
    )
    .await
    .ok();
    b.put(
        &format!("/_matrix/client/v3/devices/{}", bob.device_id),
        Some(&bob.token),
        json!({ "display_name": "Bob's phone" }),
    )
    .await
    .ok();

    let queried = a
        .post(
            "/_matrix/client/v3/keys/query",
            Some(&alice.token),
            json!({ "device_keys": { bob.user_id.clone(): [] } }),
        )
        .await
        .ok();
    let device = &queried["device_keys"][&bob.user_id][&bob.device_id];
    assert_eq!(device["keys"], keys["keys"], "{queried}");
    assert!(
        device["unsigned"]["device_display_name"].is_null(),
        "no names over federation: {device}"
    );
    // `failures` may be left out when empty (spec: optional).
    assert!(
        queried["failures"].as_object().is_none_or(|f| f.is_empty()),
        "{queried}"
    );

    let claim = json!({ "one_time_keys": { bob.user_id.clone(): { bob.device_id.clone(): "signed_curve25519" } } });
    let claimed = a
        .post("/_matrix/client/v3/keys/claim", Some(&alice.token), claim.clone())
        .await
        .ok();
    assert_eq!(
        claimed["one_time_keys"][&bob.user_id][&bob.device_id]["signed_curve25519:b0"]["key"], "b-otk-0",
        "{claimed}"
    );
    let again = a
        .post("/_matrix/client/v3/keys/claim", Some(&alice.token), claim)
        .await
        .ok();
    assert_eq!(again["one_time_keys"], json!({}), "claimed once only: {again}");

    // A server that is down is named in `failures`, within the timeout.
    b.stop().await;
    let started = std::time::Instant::now();
    let down = a
        .post(
            "/_matrix/client/v3/keys/query",
            Some(&alice.token),
            json!({ "device_keys": { bob.user_id.clone(): [] }, "timeout": 3000 }),
        )
        .await
        .ok();
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    assert!(down["failures"][origin(&b).as_str()].is_object(), "{down}");
    assert!(down["device_keys"].get(&bob.user_id).is_none(), "{down}");
}

#[tokio::test]
async fn device_list_changes_reach_users_who_share_a_room() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    let carol = server.register("carol", "pw-carol-1").await;
    let room = server.create_room(&alice, json!({ "preset": "public_chat" })).await;
    server.join(&bob, &room).await.ok();
    let bob_from = server.sync(&bob, None, 0, None).await["next_batch"]
        .as_str()
        .expect("token")
        .to_owned();
    let carol_from = server.sync(&carol, None, 0, None).await["next_batch"]
        .as_str()
        .expect("token")
        .to_owned();

    let (keys, _) = device_keys(&alice, &alice.device_id, None);
    upload(&server, &alice, json!({ "device_keys": keys })).await.ok();
    let bob_sync = server.sync(&bob, Some(&bob_from), 5000, None).await;
    assert_eq!(
        bob_sync["device_lists"]["changed"],
        json!([alice.user_id]),
        "{bob_sync}"
    );
    let carol_sync = server.sync(&carol, Some(&carol_from), 0, None).await;
    // Empty lists may be left out (spec: optional).
    assert!(
        carol_sync["device_lists"]["changed"]
            .as_array()
            .is_none_or(Vec::is_empty),
        "no shared room: {carol_sync}"
    );
    let bob_to = bob_sync["next_batch"].as_str().expect("token").to_owned();
    let changes = server
        .get(
            &format!("/_matrix/client/v3/keys/changes?from={bob_from}&to={bob_to}"),
            Some(&bob.token),
        )
        .await
        .ok();
    assert_eq!(changes["changed"], json!([alice.user_id]));

    // Uploading the same keys again is no change; a deleted device is.
    upload(&server, &alice, json!({ "device_keys": keys })).await.ok();
    let quiet = server.sync(&bob, Some(&bob_to), 0, None).await;
    assert!(
        quiet["device_lists"]["changed"].as_array().is_none_or(Vec::is_empty),
        "{quiet}"
    );
    let second = server.login("alice", "pw-alice-1").await.ok();
    let second_token = second["access_token"].as_str().expect("token");
    let before_logout = quiet["next_batch"].as_str().expect("token").to_owned();
    server
        .post("/_matrix/client/v3/logout", Some(second_token), json!({}))
        .await
        .ok();
    let after = server.sync(&bob, Some(&before_logout), 5000, None).await;
    assert_eq!(after["device_lists"]["changed"], json!([alice.user_id]), "{after}");
}

#[tokio::test]
async fn joins_and_leaves_show_in_device_lists() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    let carol = server.register("carol", "pw-carol-1").await;
    let room = server.create_room(&alice, json!({ "preset": "public_chat" })).await;
    server.join(&bob, &room).await.ok();
    let since = server.sync(&alice, None, 0, None).await["next_batch"]
        .as_str()
        .expect("token")
        .to_owned();

    // Carol joins: Alice (and Bob) now share a room with her.
    server.join(&carol, &room).await.ok();
    let joined = server.sync(&alice, Some(&since), 5000, None).await;
    assert_eq!(joined["device_lists"]["changed"], json!([carol.user_id]), "{joined}");
    assert!(
        joined["device_lists"]["left"].as_array().is_none_or(Vec::is_empty),
        "{joined}"
    );

    // Bob leaves: Alice no longer shares any room with him.
    let since = joined["next_batch"].as_str().expect("token").to_owned();
    server
        .post(
            &format!("/_matrix/client/v3/rooms/{room}/leave"),
            Some(&bob.token),
            json!({}),
        )
        .await
        .ok();
    let left = server.sync(&alice, Some(&since), 5000, None).await;
    assert_eq!(left["device_lists"]["left"], json!([bob.user_id]), "{left}");
    let to = left["next_batch"].as_str().expect("token");
    let changes = server
        .get(
            &format!("/_matrix/client/v3/keys/changes?from={since}&to={to}"),
            Some(&alice.token),
        )
        .await
        .ok();
    assert_eq!(changes["left"], json!([bob.user_id]));

    // Carol joining a room of her own with Dave: nothing for Alice.
    let dave = server.register("dave", "pw-dave-1").await;
    let other = server.create_room(&dave, json!({ "preset": "public_chat" })).await;
    server.join(&carol, &other).await.ok();
    let quiet = server.sync(&alice, Some(to), 0, None).await;
    // No change: no `device_lists` at all, or empty lists (spec: both optional).
    let lists = &quiet["device_lists"];
    assert!(
        lists.is_null() || *lists == json!({ "changed": [], "left": [] }),
        "{quiet}"
    );
}

/// TestFederationKeyUploadQuery, with `federation.share_device_names` on (as Complement runs
/// Synapse): a remote key query shows the device's display name, also after a rename.
#[tokio::test]
async fn device_names_reach_other_servers_when_shared() {
    let ca = TestCa::new();
    let a = TestServer::start_federating(&ca, |_| {}).await;
    let b = TestServer::start_federating(&ca, |config| config.federation.share_device_names = true).await;
    let alice = a.register("alice", "pw-alice-1").await;
    let bob = b.register("bob", "pw-bob-1").await;
    let (keys, _) = device_keys(&bob, &bob.device_id, None);
    upload(&b, &bob, json!({ "device_keys": keys })).await.ok();
    b.put(
        &format!("/_matrix/client/v3/devices/{}", bob.device_id),
        Some(&bob.token),
        json!({ "display_name": "My new displayname" }),
    )
    .await
    .ok();
    let queried = a
        .post(
            "/_matrix/client/v3/keys/query",
            Some(&alice.token),
            json!({ "device_keys": { bob.user_id.clone(): [] } }),
        )
        .await
        .ok();
    let device = &queried["device_keys"][&bob.user_id][&bob.device_id];
    assert_eq!(
        device["unsigned"]["device_display_name"], "My new displayname",
        "{queried}"
    );
}
