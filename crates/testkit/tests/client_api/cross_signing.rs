//! Cross-signing: uploading master, self-signing and user-signing keys (checks, UIA when keys
//! change), signatures on devices and master keys (failures per key), what `/keys/query` shows
//! to whom, and the keys as another server sees them.

use accord_testkit::{TestServer, TestUser};
use ruma::{CanonicalJsonObject, signatures::Ed25519KeyPair};
use serde_json::{Value, json};

use crate::{
    e2ee_keys::{base64_unpadded, device_keys, upload},
    federation_support::shared_room,
};

/// An ed25519 key pair whose key id is `ed25519:<public key>`, as cross-signing keys are named.
pub(crate) struct SigningKey {
    pub pair: Ed25519KeyPair,
    pub public: String,
}

pub(crate) fn signing_key() -> SigningKey {
    let der = Ed25519KeyPair::generate();
    let public = base64_unpadded(
        &Ed25519KeyPair::from_der(&der, "x".to_owned())
            .expect("pair")
            .public_key(),
    );
    SigningKey {
        pair: Ed25519KeyPair::from_der(&der, public.clone()).expect("pair"),
        public,
    }
}

/// `object` signed by `user` with `key`.
pub(crate) fn signed(object: &Value, user: &str, key: &Ed25519KeyPair) -> Value {
    let mut canonical: CanonicalJsonObject = serde_json::from_value(object.clone()).expect("object");
    ruma::signatures::sign_json(user, key, &mut canonical).expect("sign");
    serde_json::to_value(canonical).expect("json")
}

/// A cross-signing key object for `usage`, signed by `signer` if given.
pub(crate) fn cross_key(user: &str, usage: &str, key: &SigningKey, signer: Option<&SigningKey>) -> Value {
    let object = json!({
        "user_id": user,
        "usage": [usage],
        "keys": { format!("ed25519:{}", key.public): key.public },
    });
    match signer {
        Some(signer) => signed(&object, user, &signer.pair),
        None => object,
    }
}

/// A user's three cross-signing keys and the upload body for them.
pub(crate) struct CrossSigning {
    pub master: SigningKey,
    pub self_signing: SigningKey,
    pub user_signing: SigningKey,
    pub body: Value,
}

pub(crate) fn cross_signing(user: &str) -> CrossSigning {
    let (master, self_signing, user_signing) = (signing_key(), signing_key(), signing_key());
    let body = json!({
        "master_key": cross_key(user, "master", &master, None),
        "self_signing_key": cross_key(user, "self_signing", &self_signing, Some(&master)),
        "user_signing_key": cross_key(user, "user_signing", &user_signing, Some(&master)),
    });
    CrossSigning {
        master,
        self_signing,
        user_signing,
        body,
    }
}

const SIGNING_UPLOAD: &str = "/_matrix/client/v3/keys/device_signing/upload";
const SIGNATURES_UPLOAD: &str = "/_matrix/client/v3/keys/signatures/upload";

async fn query(server: &TestServer, asker: &TestUser, users: &[&str]) -> Value {
    let wanted: serde_json::Map<String, Value> = users.iter().map(|u| ((*u).to_owned(), json!([]))).collect();
    server
        .post(
            "/_matrix/client/v3/keys/query",
            Some(&asker.token),
            json!({ "device_keys": wanted }),
        )
        .await
        .ok()
}

#[tokio::test]
async fn signing_keys_and_signatures_are_checked_stored_and_shown_to_the_right_users() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    let carol = server.register("carol", "pw-carol-1").await;
    let (alice_device, _) = device_keys(&alice, &alice.device_id, None);
    upload(&server, &alice, json!({ "device_keys": alice_device }))
        .await
        .ok();
    let mut keys = cross_signing(&alice.user_id);

    // No master key yet, and only a self-signing key: 400 M_MISSING_PARAM. A self-signing key
    // the master key didn't sign: 400 M_INVALID_SIGNATURE. A key naming someone else: 400.
    let lone = json!({ "self_signing_key": keys.body["self_signing_key"] });
    server
        .post(SIGNING_UPLOAD, Some(&alice.token), lone)
        .await
        .assert_error(400, "M_MISSING_PARAM");
    let unsigned = json!({
        "master_key": keys.body["master_key"],
        "self_signing_key": cross_key(&alice.user_id, "self_signing", &keys.self_signing, None),
    });
    server
        .post(SIGNING_UPLOAD, Some(&alice.token), unsigned)
        .await
        .assert_error(400, "M_INVALID_SIGNATURE");
    let bobs = json!({ "master_key": cross_key(&bob.user_id, "master", &keys.master, None) });
    server
        .post(SIGNING_UPLOAD, Some(&alice.token), bobs)
        .await
        .assert_error(400, "M_INVALID_PARAM");

    // The first upload needs no UIA (spec v1.11), nor does the same upload again.
    server
        .post(SIGNING_UPLOAD, Some(&alice.token), keys.body.clone())
        .await
        .ok();
    server
        .post(SIGNING_UPLOAD, Some(&alice.token), keys.body.clone())
        .await
        .ok();
    // New keys do: 401 with a session, then the password completes it.
    let replacement = cross_signing(&alice.user_id);
    let challenge = server
        .post(SIGNING_UPLOAD, Some(&alice.token), replacement.body.clone())
        .await;
    assert_eq!(challenge.status, 401, "{:?}", challenge.body);
    assert_eq!(challenge.body["flows"][0]["stages"][0], "m.login.password");
    let session = challenge.body["session"].as_str().expect("session").to_owned();
    let mut with_auth = replacement.body.clone();
    with_auth["auth"] = json!({
        "type": "m.login.password",
        "identifier": { "type": "m.id.user", "user": alice.user_id },
        "password": "pw-alice-1",
        "session": session,
    });
    server.post(SIGNING_UPLOAD, Some(&alice.token), with_auth).await.ok();
    // The stored self-signing key alone again changes nothing: no second UIA (MSC3967's test).
    let same_self = json!({ "self_signing_key": replacement.body["self_signing_key"] });
    server.post(SIGNING_UPLOAD, Some(&alice.token), same_self).await.ok();
    keys = replacement;

    // Alice signs her device with her self-signing key; a signature by another key fails for
    // that key alone and is not stored.
    let device_signed = signed(&alice_device, &alice.user_id, &keys.self_signing.pair);
    let stranger = signing_key();
    let answer = server
        .post(
            SIGNATURES_UPLOAD,
            Some(&alice.token),
            json!({ alice.user_id.clone(): { alice.device_id.clone(): device_signed } }),
        )
        .await
        .ok();
    // `failures` may be left out when empty (spec: optional).
    assert!(answer["failures"].as_object().is_none_or(|f| f.is_empty()), "{answer}");
    let forged_master = signed(
        &cross_key(&alice.user_id, "master", &keys.master, None),
        &alice.user_id,
        &stranger.pair,
    );
    let mut forged = forged_master.clone();
    // Claims to be by her device, but made with another key.
    let signature = forged["signatures"][&alice.user_id][format!("ed25519:{}", stranger.public)].clone();
    forged["signatures"] = json!({ alice.user_id.clone(): { format!("ed25519:{}", alice.device_id): signature } });
    let answer = server
        .post(
            SIGNATURES_UPLOAD,
            Some(&alice.token),
            json!({ alice.user_id.clone(): { keys.master.public.clone(): forged } }),
        )
        .await
        .ok();
    assert_eq!(
        answer["failures"][&alice.user_id][&keys.master.public]["errcode"], "M_INVALID_SIGNATURE",
        "{answer}"
    );

    // Bob sees Alice's master and self-signing keys and her device's new signature, not her
    // user-signing key; Alice sees her own user-signing key.
    let seen = query(&server, &bob, &[&alice.user_id]).await;
    assert_eq!(
        seen["master_keys"][&alice.user_id]["keys"], keys.body["master_key"]["keys"],
        "{seen}"
    );
    assert!(
        seen["master_keys"][&alice.user_id]["signatures"][&alice.user_id]
            .get(format!("ed25519:{}", alice.device_id))
            .is_none()
    );
    assert_eq!(seen["self_signing_keys"][&alice.user_id], keys.body["self_signing_key"]);
    assert!(seen["user_signing_keys"].get(&alice.user_id).is_none(), "{seen}");
    let device = &seen["device_keys"][&alice.user_id][&alice.device_id];
    assert!(
        device["signatures"][&alice.user_id][format!("ed25519:{}", keys.self_signing.public)].is_string(),
        "{device}"
    );
    let own = query(&server, &alice, &[&alice.user_id]).await;
    assert_eq!(own["user_signing_keys"][&alice.user_id], keys.body["user_signing_key"]);

    // Bob signs Alice's master key with his user-signing key: Bob sees it, Carol doesn't.
    let bob_keys = cross_signing(&bob.user_id);
    server
        .post(SIGNING_UPLOAD, Some(&bob.token), bob_keys.body.clone())
        .await
        .ok();
    let master = seen["master_keys"][&alice.user_id].clone();
    let bob_signed = signed(&master, &bob.user_id, &bob_keys.user_signing.pair);
    let answer = server
        .post(
            SIGNATURES_UPLOAD,
            Some(&bob.token),
            json!({ alice.user_id.clone(): { keys.master.public.clone(): bob_signed } }),
        )
        .await
        .ok();
    // `failures` may be left out when empty (spec: optional).
    assert!(answer["failures"].as_object().is_none_or(|f| f.is_empty()), "{answer}");
    let bob_key_id = format!("ed25519:{}", bob_keys.user_signing.public);
    let by_bob = query(&server, &bob, &[&alice.user_id]).await;
    assert!(by_bob["master_keys"][&alice.user_id]["signatures"][&bob.user_id][&bob_key_id].is_string());
    let by_carol = query(&server, &carol, &[&alice.user_id]).await;
    assert!(
        by_carol["master_keys"][&alice.user_id]["signatures"]
            .get(&bob.user_id)
            .is_none()
    );

    // An unknown key id: a failure for it, not an error for the request.
    let answer = server
        .post(
            SIGNATURES_UPLOAD,
            Some(&alice.token),
            json!({ alice.user_id.clone(): { "NOSUCHKEY": {} } }),
        )
        .await
        .ok();
    assert_eq!(
        answer["failures"][&alice.user_id]["NOSUCHKEY"]["errcode"], "M_NOT_FOUND",
        "{answer}"
    );
}

#[tokio::test]
async fn signing_keys_and_new_devices_reach_the_other_server() {
    let shared = shared_room("xsign").await;
    let (a, b, alice, bob) = (&shared.a, &shared.b, &shared.alice, &shared.bob);
    let (alice_device, _) = device_keys(alice, &alice.device_id, None);
    upload(a, alice, json!({ "device_keys": alice_device })).await.ok();
    let keys = cross_signing(&alice.user_id);
    a.post(SIGNING_UPLOAD, Some(&alice.token), keys.body.clone()).await.ok();

    // B asks A (and then keeps Alice's list, since Bob shares a room with her).
    let first = query(b, bob, &[&alice.user_id]).await;
    assert_eq!(
        first["master_keys"][&alice.user_id]["keys"], keys.body["master_key"]["keys"],
        "{first}"
    );
    assert_eq!(
        first["self_signing_keys"][&alice.user_id],
        keys.body["self_signing_key"]
    );
    assert!(
        first["device_keys"][&alice.user_id][&alice.device_id].is_object(),
        "{first}"
    );

    // A new device of Alice's: B hears of it (m.device_list_update), Bob's sync says so.
    let since = b.sync(bob, None, 0, None).await["next_batch"]
        .as_str()
        .expect("token")
        .to_owned();
    let phone = crate::to_device::second_device(a, alice, "pw-alice-1").await;
    let (phone_keys, _) = device_keys(alice, &phone.device_id, None);
    upload(a, &phone, json!({ "device_keys": phone_keys })).await.ok();
    let mut since = since;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let sync = b.sync(bob, Some(&since), 2000, None).await;
        let changed = sync["device_lists"]["changed"].as_array().cloned().unwrap_or_default();
        if changed.iter().any(|u| u == alice.user_id.as_str()) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "Bob's sync never listed Alice as changed"
        );
        since = sync["next_batch"].as_str().expect("token").to_owned();
    }
    // Wait for B's copy to hold the phone, then stop A: B answers from its copy.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let list = b
            .running()
            .services
            .db()
            .get_remote_device_list(<&ruma::UserId>::try_from(alice.user_id.as_str()).expect("user"))
            .expect("read");
        if list.is_some_and(|l| l.devices.keys().any(|d| d.as_str() == phone.device_id)) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "B never learned of Alice's new device"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // An update that follows the last one applied is applied as is (here: the phone deleted,
    // in B's copy only); one whose prev_id names an update B never saw makes B fetch the whole
    // list again from A (`/user/devices`), which still has the phone.
    let db = b.running().services.db().clone();
    let alice_id = <&ruma::UserId>::try_from(alice.user_id.as_str()).expect("user");
    let known = db
        .get_remote_device_list(alice_id)
        .expect("read")
        .expect("copy")
        .stream_id;
    let update = |stream_id: u64, prev_id: u64| {
        json!({ "edu_type": "m.device_list_update", "content": {
            "user_id": alice.user_id, "device_id": phone.device_id,
            "stream_id": stream_id, "prev_id": [prev_id], "deleted": true,
        } })
    };
    crate::to_device::send_edus(a, b, vec![update(known + 1, known)]).await;
    let copy = db.get_remote_device_list(alice_id).expect("read").expect("copy");
    assert!(
        !copy.devices.keys().any(|d| d.as_str() == phone.device_id),
        "in-order update not applied"
    );
    assert_eq!(copy.stream_id, known + 1);
    crate::to_device::send_edus(a, b, vec![update(known + 100, known + 50)]).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let copy = db.get_remote_device_list(alice_id).expect("read").expect("copy");
        if copy.devices.keys().any(|d| d.as_str() == phone.device_id) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "B never fetched Alice's list again after a gap"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    let mut shared = shared;
    shared.a.stop().await;
    let cached = query(&shared.b, &shared.bob, &[&shared.alice.user_id]).await;
    let devices = cached["device_keys"][&shared.alice.user_id]
        .as_object()
        .expect("devices");
    assert!(
        devices.contains_key(&shared.alice.device_id) && devices.contains_key(&phone.device_id),
        "{cached}"
    );
    // `failures` may be left out when empty (spec: optional).
    assert!(cached["failures"].as_object().is_none_or(|f| f.is_empty()), "{cached}");
    assert_eq!(
        cached["master_keys"][&shared.alice.user_id]["keys"], keys.body["master_key"]["keys"],
        "{cached}"
    );
}
