//! Server-side key backups (versions, keys with the spec's replace rules, etag and count, the
//! errors) and dehydrated devices (MSC3814).

use accord_testkit::TestServer;
use serde_json::{Value, json};

use crate::e2ee_keys::{device_keys, one_time_keys};

const ALGORITHM: &str = "m.megolm_backup.v1.curve25519-aes-sha2";

fn key_data(first_message_index: u64, forwarded_count: u64, is_verified: bool, tag: &str) -> Value {
    json!({
        "first_message_index": first_message_index,
        "forwarded_count": forwarded_count,
        "is_verified": is_verified,
        "session_data": { "ephemeral": "eph", "ciphertext": tag, "mac": "mac" },
    })
}

#[tokio::test]
async fn backup_versions_and_keys_follow_the_spec() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let token = Some(alice.token.as_str());
    let room = "!room:example.org";

    server
        .get("/_matrix/client/v3/room_keys/version", token)
        .await
        .assert_error(404, "M_NOT_FOUND");
    server
        .post(
            "/_matrix/client/v3/room_keys/version",
            token,
            json!({ "algorithm": ALGORITHM, "auth_data": { "signatures": {} } }),
        )
        .await
        .assert_error(400, "M_BAD_JSON");
    let auth_data = json!({ "public_key": "abcdefg", "signatures": {} });
    let created = server
        .post(
            "/_matrix/client/v3/room_keys/version",
            token,
            json!({ "algorithm": ALGORITHM, "auth_data": auth_data }),
        )
        .await
        .ok();
    let v1 = created["version"].as_str().expect("version").to_owned();
    let info = server.get("/_matrix/client/v3/room_keys/version", token).await.ok();
    assert_eq!(info["version"], v1.as_str());
    assert_eq!(info["algorithm"], ALGORITHM);
    assert_eq!(info["auth_data"], auth_data);
    assert_eq!(info["count"], 0);

    // A key, then a worse one (higher first index) that doesn't replace it, then a verified one
    // that does; etag moves only when something changed.
    let path = format!("/_matrix/client/v3/room_keys/keys/{room}/s1?version={v1}");
    let first = server.put(&path, token, key_data(5, 0, false, "first")).await.ok();
    assert_eq!(first["count"], 1);
    let worse = server.put(&path, token, key_data(9, 0, false, "worse")).await.ok();
    assert_eq!(worse["etag"], first["etag"], "nothing changed");
    let stored = server.get(&path, token).await.ok();
    assert_eq!(stored["session_data"]["ciphertext"], "first");
    let verified = server.put(&path, token, key_data(7, 3, true, "verified")).await.ok();
    assert_ne!(verified["etag"], first["etag"]);
    assert_eq!(verified["count"], 1);
    assert_eq!(
        server.get(&path, token).await.ok()["session_data"]["ciphertext"],
        "verified"
    );
    // Same verification: the lower forwarded count wins when the index is equal.
    server
        .put(&path, token, key_data(7, 1, true, "fewer-forwards"))
        .await
        .ok();
    assert_eq!(
        server.get(&path, token).await.ok()["session_data"]["ciphertext"],
        "fewer-forwards"
    );

    // Many keys at once; read back by room and in full.
    let all = json!({ "rooms": { room: { "sessions": {
        "s2": key_data(0, 0, false, "two"),
        "s3": key_data(0, 0, false, "three"),
    } } } });
    let put = server
        .put(&format!("/_matrix/client/v3/room_keys/keys?version={v1}"), token, all)
        .await
        .ok();
    assert_eq!(put["count"], 3);
    let by_room = server
        .get(&format!("/_matrix/client/v3/room_keys/keys/{room}?version={v1}"), token)
        .await
        .ok();
    assert_eq!(by_room["sessions"].as_object().expect("sessions").len(), 3);
    let everything = server
        .get(&format!("/_matrix/client/v3/room_keys/keys?version={v1}"), token)
        .await
        .ok();
    assert_eq!(
        everything["rooms"][room]["sessions"]["s2"]["session_data"]["ciphertext"],
        "two"
    );
    let empty_room = server
        .get(
            &format!("/_matrix/client/v3/room_keys/keys/!other:example.org?version={v1}"),
            token,
        )
        .await
        .ok();
    assert_eq!(empty_room, json!({ "sessions": {} }));
    server
        .get(
            &format!("/_matrix/client/v3/room_keys/keys/{room}/nosuch?version={v1}"),
            token,
        )
        .await
        .assert_error(404, "M_NOT_FOUND");
    server
        .put(
            &format!("/_matrix/client/v3/room_keys/keys/{room}/bad?version={v1}"),
            token,
            json!({ "first_message_index": 0 }),
        )
        .await
        .assert_error(400, "M_BAD_JSON");

    // Deleting one session, then a room.
    let deleted = server
        .delete(
            &format!("/_matrix/client/v3/room_keys/keys/{room}/s3?version={v1}"),
            token,
            None,
        )
        .await
        .ok();
    assert_eq!(deleted["count"], 2);
    let deleted = server
        .delete(
            &format!("/_matrix/client/v3/room_keys/keys/{room}?version={v1}"),
            token,
            None,
        )
        .await
        .ok();
    assert_eq!(deleted["count"], 0);
    server.put(&path, token, key_data(0, 0, false, "again")).await.ok();
    let deleted = server
        .delete(&format!("/_matrix/client/v3/room_keys/keys?version={v1}"), token, None)
        .await
        .ok();
    assert_eq!(deleted["count"], 0);
    server.get(&path, token).await.assert_error(404, "M_NOT_FOUND");

    // A new version becomes current: writes to the old one get 403 with the current version;
    // an unknown version is 404.
    let v2 = server
        .post(
            "/_matrix/client/v3/room_keys/version",
            token,
            json!({ "algorithm": ALGORITHM, "auth_data": { "public_key": "second" } }),
        )
        .await
        .ok()["version"]
        .as_str()
        .expect("version")
        .to_owned();
    assert_ne!(v1, v2);
    let wrong = server.put(&path, token, key_data(0, 0, false, "old")).await;
    wrong.assert_error(403, "M_WRONG_ROOM_KEYS_VERSION");
    assert_eq!(wrong.body["current_version"], v2.as_str(), "{:?}", wrong.body);
    server
        .put(
            &format!("/_matrix/client/v3/room_keys/keys/{room}/s1?version=999"),
            token,
            key_data(0, 0, false, "x"),
        )
        .await
        .assert_error(404, "M_NOT_FOUND");

    // Updating: auth_data may change, the algorithm may not, nor may the body name another version.
    let version_path = format!("/_matrix/client/v3/room_keys/version/{v2}");
    server
        .put(
            &version_path,
            token,
            json!({ "algorithm": ALGORITHM, "auth_data": { "public_key": "second", "signatures": { "x": {} } } }),
        )
        .await
        .ok();
    assert_eq!(
        server.get(&version_path, token).await.ok()["auth_data"]["signatures"],
        json!({ "x": {} })
    );
    server
        .put(
            &version_path,
            token,
            json!({ "algorithm": ALGORITHM, "auth_data": { "public_key": "k" }, "version": v1 }),
        )
        .await
        .assert_error(400, "M_INVALID_PARAM");

    // Deleting the current version: the previous one is current again; the deleted one is gone.
    server.delete(&version_path, token, None).await.ok();
    server.get(&version_path, token).await.assert_error(404, "M_NOT_FOUND");
    let current = server.get("/_matrix/client/v3/room_keys/version", token).await.ok();
    assert_eq!(current["version"], v1.as_str());

    // Another user's backups are theirs alone.
    let bob = server.register("bob", "pw-bob-1").await;
    server
        .get("/_matrix/client/v3/room_keys/version", Some(&bob.token))
        .await
        .assert_error(404, "M_NOT_FOUND");
}

const DEHYDRATED: &str = "/_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device";

/// TestE2EKeyBackupReplaceRoomKeyRules: a backup algorithm the server doesn't know is stored
/// as given (the server keeps backups, clients read them), and its keys follow the spec's
/// replacement rules.
#[tokio::test]
async fn backups_of_unknown_algorithms_are_kept() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let created = server
        .post(
            "/_matrix/client/v3/room_keys/version",
            Some(&alice.token),
            json!({ "algorithm": "m.megolm_backup.v1", "auth_data": { "foo": "bar" } }),
        )
        .await
        .ok();
    let version = created["version"].as_str().expect("version").to_owned();
    let info = server
        .get(
            &format!("/_matrix/client/v3/room_keys/version/{version}"),
            Some(&alice.token),
        )
        .await
        .ok();
    assert_eq!(info["algorithm"], "m.megolm_backup.v1");
    assert_eq!(info["auth_data"], json!({ "foo": "bar" }));
    let path = format!("/_matrix/client/v3/room_keys/keys/!foo:localhost/a?version={version}");
    server
        .put(&path, Some(&alice.token), key_data(10, 5, false, "first"))
        .await
        .ok();
    // Worse (a later first index): answered 200, not stored.
    server
        .put(&path, Some(&alice.token), key_data(11, 5, false, "worse"))
        .await
        .ok();
    let stored = server.get(&path, Some(&alice.token)).await.ok();
    assert_eq!(stored["first_message_index"], 10);
    assert_eq!(stored["forwarded_count"], 5);
}

#[tokio::test]
async fn a_dehydrated_device_receives_to_device_messages_until_drained() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    let token = Some(alice.token.as_str());
    let versions = server.get("/_matrix/client/versions", None).await.ok();
    assert_eq!(
        versions["unstable_features"]["org.matrix.msc3814"], true,
        "Element looks for it"
    );
    server.get(DEHYDRATED, token).await.assert_error(404, "M_NOT_FOUND");

    // Keys naming another device: refused, and no device is left behind.
    let (forged, _) = device_keys(&alice, "NOT-DEHYDRATED", None);
    let body = |keys: Value| {
        json!({
            "device_id": "DEHYDRATED",
            "device_data": { "algorithm": "org.matrix.msc3814.v1.olm", "device_pickle": "pickle", "nonce": "n" },
            "initial_device_display_name": "Dehydrated device",
            "device_keys": keys,
            "one_time_keys": one_time_keys("d", 2),
            "fallback_keys": {},
        })
    };
    server
        .put(DEHYDRATED, token, body(forged))
        .await
        .assert_error(400, "M_INVALID_PARAM");
    server.get(DEHYDRATED, token).await.assert_error(404, "M_NOT_FOUND");

    let (keys, _) = device_keys(&alice, "DEHYDRATED", None);
    let put = server.put(DEHYDRATED, token, body(keys)).await.ok();
    assert_eq!(put["device_id"], "DEHYDRATED");
    let got = server.get(DEHYDRATED, token).await.ok();
    assert_eq!(got["device_data"]["device_pickle"], "pickle");
    // Like any device: listed, its keys queryable and claimable.
    let devices = server.get("/_matrix/client/v3/devices", token).await.ok();
    assert!(
        devices["devices"]
            .as_array()
            .expect("devices")
            .iter()
            .any(|d| d["device_id"] == "DEHYDRATED")
    );
    let claimed = server
        .post(
            "/_matrix/client/v3/keys/claim",
            Some(&bob.token),
            json!({ "one_time_keys": { alice.user_id.clone(): { "DEHYDRATED": "signed_curve25519" } } }),
        )
        .await
        .ok();
    assert!(
        claimed["one_time_keys"][&alice.user_id]["DEHYDRATED"].is_object(),
        "{claimed}"
    );

    // 120 messages to all of Alice's devices; the dehydrated device pages through them.
    for n in 0..120u64 {
        server
            .put(
                &format!("/_matrix/client/v3/sendToDevice/m.test.ping/d{n}"),
                Some(&bob.token),
                json!({ "messages": { alice.user_id.clone(): { "*": { "n": n } } } }),
            )
            .await
            .ok();
    }
    let events_path = format!("{DEHYDRATED}/DEHYDRATED/events");
    let mut next: Option<String> = None;
    let mut received = Vec::new();
    loop {
        let body = match &next {
            Some(token) => json!({ "next_batch": token }),
            None => json!({}),
        };
        let page = server.post(&events_path, token, body).await.ok();
        let events = page["events"].as_array().expect("events").clone();
        if events.is_empty() {
            break;
        }
        received.extend(events.iter().map(|e| e["content"]["n"].as_u64().expect("n")));
        next = page["next_batch"].as_str().map(str::to_owned);
        assert!(next.is_some(), "{page}");
    }
    assert_eq!(received, (0..120).collect::<Vec<_>>());
    server
        .post(&format!("{DEHYDRATED}/{}/events", alice.device_id), token, json!({}))
        .await
        .assert_error(403, "M_FORBIDDEN");

    // Replaced by a new one, then deleted.
    let (new_keys, _) = device_keys(&alice, "DEHYDRATED2", None);
    let mut second = body(new_keys);
    second["device_id"] = json!("DEHYDRATED2");
    server.put(DEHYDRATED, token, second).await.ok();
    let devices = server.get("/_matrix/client/v3/devices", token).await.ok();
    let ids: Vec<&str> = devices["devices"]
        .as_array()
        .expect("devices")
        .iter()
        .filter_map(|d| d["device_id"].as_str())
        .collect();
    assert!(ids.contains(&"DEHYDRATED2") && !ids.contains(&"DEHYDRATED"), "{ids:?}");
    let deleted = server.delete(DEHYDRATED, token, None).await.ok();
    assert_eq!(deleted["device_id"], "DEHYDRATED2");
    server.get(DEHYDRATED, token).await.assert_error(404, "M_NOT_FOUND");
}
