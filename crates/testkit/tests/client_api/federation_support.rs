//! Helpers shared by the federation tests: server names, stored PDUs, raw transactions, and
//! waiting for messages to arrive.

use accord_testkit::{TestServer, TestUser, ca::TestCa};
use ruma::OwnedServerName;

/// The server name other servers know `server` by.
pub fn origin(server: &TestServer) -> OwnedServerName {
    server.config.server_name.clone()
}

/// The stored JSON of an event on `server`.
pub fn stored_pdu(server: &TestServer, event_id: &str) -> ruma::CanonicalJsonObject {
    let db = server.running().services.rooms.rooms().db();
    let short = db
        .get_short_event_id(<&ruma::EventId>::try_from(event_id).expect("event id"))
        .expect("lookup")
        .expect("stored");
    db.get_pdu_json(short).expect("read").expect("json")
}

/// Sends `pdus` from `from` to `to` in one transaction; returns the per-PDU results.
pub async fn transact(
    from: &TestServer,
    to: &TestServer,
    pdus: Vec<ruma::CanonicalJsonObject>,
) -> Result<std::collections::BTreeMap<ruma::OwnedEventId, Result<(), String>>, accord_federation::Error> {
    use ruma::api::federation::transactions::send_transaction_message::v1 as send_transaction;
    let federation = from.running().services.federation.as_ref().expect("federation");
    let txn = ruma::OwnedTransactionId::from(format!("txn-{}", rand_id()));
    let raw = pdus
        .iter()
        .map(|p| serde_json::value::to_raw_value(p).expect("raw"))
        .collect();
    let mut request = send_transaction::Request::new(txn, origin(from), ruma::MilliSecondsSinceUnixEpoch::now());
    request.pdus = raw;
    Ok(federation.client().send(&origin(to), request).await?.pdus)
}

pub fn rand_id() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos()
}

/// Waits until `room` on `server`, as seen by `user`, holds a message with each of `bodies`;
/// returns the message bodies in timeline order.
pub async fn wait_for_bodies(
    server: &TestServer,
    user: &accord_testkit::TestUser,
    room: &str,
    bodies: &[String],
    within: std::time::Duration,
) -> Vec<String> {
    let deadline = std::time::Instant::now() + within;
    loop {
        let page = server
            .get(
                &format!("/_matrix/client/v3/rooms/{room}/messages?dir=f&limit=1000"),
                Some(&user.token),
            )
            .await
            .ok();
        let seen: Vec<String> = page["chunk"]
            .as_array()
            .expect("chunk")
            .iter()
            .filter_map(|e| e["content"]["body"].as_str().map(str::to_owned))
            .collect();
        if bodies.iter().all(|b| seen.contains(b)) || std::time::Instant::now() > deadline {
            return seen;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// A new message event as server B would send it: `based_on`'s fields, a new body, following
/// it, signed with B's key. Not stored on B, so only the test delivers it.
pub fn forge(b: &TestServer, based_on: &ruma::CanonicalJsonObject, body: &str) -> ruma::CanonicalJsonObject {
    forge_with(b, based_on, body, |_| {})
}

/// Like [`forge`], with `adjust` changing the event before it is signed.
pub fn forge_with(
    b: &TestServer,
    based_on: &ruma::CanonicalJsonObject,
    body: &str,
    adjust: impl FnOnce(&mut ruma::CanonicalJsonObject),
) -> ruma::CanonicalJsonObject {
    use ruma::CanonicalJsonValue as V;
    let mut event = based_on.clone();
    event.remove("signatures");
    event.remove("hashes");
    event.remove("unsigned");
    let base_id = format!(
        "${}",
        ruma::signatures::reference_hash(based_on, &ruma::RoomVersionId::V11.rules().expect("rules")).expect("hash")
    );
    event.insert("prev_events".to_owned(), V::Array(vec![V::String(base_id)]));
    if let Some(V::Integer(depth)) = event.get("depth").cloned() {
        event.insert("depth".to_owned(), V::Integer(depth + ruma::Int::from(1u8)));
    }
    if let Some(V::Object(content)) = event.get_mut("content") {
        content.insert("body".to_owned(), V::String(body.to_owned()));
    }
    adjust(&mut event);
    let identity = b.running().services.rooms.rooms().identity().clone();
    let rules = ruma::RoomVersionId::V11.rules().expect("rules");
    ruma::signatures::hash_and_sign_event(
        identity.server_name.as_str(),
        identity.key.as_ref(),
        &mut event,
        &rules.redaction,
    )
    .expect("sign");
    event
}

pub fn id_of(event: &ruma::CanonicalJsonObject) -> ruma::OwnedEventId {
    let rules = ruma::RoomVersionId::V11.rules().expect("rules");
    ruma::OwnedEventId::try_from(format!(
        "${}",
        ruma::signatures::reference_hash(event, &rules).expect("hash")
    ))
    .expect("id")
}

/// Two federating servers sharing a room: Alice on A created it (public, with an alias), Bob on
/// B joined it through the alias.
pub struct SharedRoom {
    pub a: TestServer,
    pub b: TestServer,
    pub alice: TestUser,
    pub bob: TestUser,
    pub room: String,
}

/// A [`SharedRoom`] whose alias is `#<alias>:<A>`.
pub async fn shared_room(alias: &str) -> SharedRoom {
    shared_room_with(alias, |_| {}).await
}

/// Like [`shared_room`], with `adjust_a` changing A's configuration.
pub async fn shared_room_with(alias: &str, adjust_a: impl FnOnce(&mut accord_core::Config)) -> SharedRoom {
    let ca = TestCa::new();
    let a = TestServer::start_federating(&ca, adjust_a).await;
    let b = TestServer::start_federating(&ca, |_| {}).await;
    let alice = a.register("alice", "pw-alice-1").await;
    let bob = b.register("bob", "pw-bob-1").await;
    let room = a
        .create_room(
            &alice,
            serde_json::json!({ "preset": "public_chat", "room_alias_name": alias }),
        )
        .await;
    b.join(&bob, &format!("#{alias}:{}", origin(&a))).await.ok();
    SharedRoom { a, b, alice, bob, room }
}
