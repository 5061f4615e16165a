//! Every stored PDU verifies years later: content hash, signature and event id (reference
//! hash) are re-checked with ruma's functions over the stored canonical JSON.

use std::collections::BTreeMap;

use accord_testkit::TestServer;
use ruma::{
    EventId, RoomVersionId,
    serde::Base64,
    signatures::{Verified, reference_hash, verify_event},
};
use serde_json::json;

#[tokio::test]
async fn every_stored_pdu_of_a_busy_room_verifies() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    for version in [
        RoomVersionId::V1,
        RoomVersionId::V5,
        RoomVersionId::V11,
        RoomVersionId::V12,
    ] {
        let room = server
            .create_room(
                &alice,
                json!({ "preset": "public_chat", "room_version": version.as_str(), "name": "busy" }),
            )
            .await;
        server.join(&bob, &room).await.ok();
        let mut redact_me = None;
        for i in 0..40 {
            let sender = if i % 2 == 0 { &alice } else { &bob };
            let id = server.send_text(sender, &room, &format!("message {i}")).await;
            redact_me.get_or_insert(id);
        }
        let base = format!("/_matrix/client/v3/rooms/{room}");
        server
            .put(
                &format!("{base}/state/m.room.topic/"),
                Some(&alice.token),
                json!({ "topic": "busy indeed" }),
            )
            .await
            .ok();
        let target = redact_me.expect("an event");
        server
            .put(&format!("{base}/redact/{target}/r"), Some(&alice.token), json!({}))
            .await
            .ok();

        let page = server
            .get(&format!("{base}/messages?dir=f&limit=1000"), Some(&alice.token))
            .await
            .ok();
        let event_ids: Vec<String> = page["chunk"]
            .as_array()
            .expect("chunk")
            .iter()
            .filter_map(|e| e["event_id"].as_str().map(str::to_owned))
            .collect();
        assert!(event_ids.len() > 45, "{} events", event_ids.len());

        let services = &server.running().services;
        let identity = services.rooms.rooms().identity();
        let mut keys = BTreeMap::new();
        keys.insert(
            format!("ed25519:{}", identity.key.version()),
            Base64::new(identity.key.public_key().to_vec()),
        );
        let mut key_map = BTreeMap::new();
        key_map.insert(identity.server_name.to_string(), keys);
        let rules = version.rules().expect("rules");
        let db = services.rooms.rooms().db();
        for event_id in &event_ids {
            let event_id = <&EventId>::try_from(event_id.as_str()).expect("event id");
            let short = db.get_short_event_id(event_id).expect("lookup").expect("stored");
            let json = db.get_pdu_json(short).expect("read").expect("pdu json");
            // Verified::All means the content hash matches too (a mismatch gives Signatures).
            assert_eq!(
                verify_event(&key_map, &json, &rules).expect("signature verifies"),
                Verified::All,
                "{event_id} in v{version}"
            );
            let hash = reference_hash(&json, &rules).expect("reference hash");
            if version == RoomVersionId::V1 {
                // Versions 1 and 2 carry a server-chosen event id in the signed JSON.
                assert_eq!(json.get("event_id").and_then(|v| v.as_str()), Some(event_id.as_str()));
            } else {
                assert_eq!(event_id.as_str(), format!("${hash}"), "event id is the reference hash");
            }
        }
    }
}
