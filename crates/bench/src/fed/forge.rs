//! Valid signed PDUs for the benchmark: a chain of messages by a user of the in-process sender,
//! each following the one before, signed with the sender's key, never stored on the sender.

use accord_testkit::TestServer;
use ruma::{CanonicalJsonObject, CanonicalJsonValue as V, Int, RoomId, RoomVersionId, UserId, signatures};
use serde_json::value::RawValue;

/// `count` chained message PDUs in `room_id` from `user`, as raw JSON for transactions.
pub fn message_chain(
    sender: &TestServer,
    room_id: &str,
    user: &str,
    count: usize,
) -> Result<Vec<Box<RawValue>>, String> {
    let room = <&RoomId>::try_from(room_id).map_err(|e| e.to_string())?;
    let user_id = UserId::parse(user).map_err(|e| e.to_string())?;
    let rooms = sender.running().services.rooms.rooms();
    let version = rooms.room_version(room).map_err(|e| e.to_string())?;
    if version != RoomVersionId::V11 {
        return Err(format!(
            "the benchmark forges room version 11 events, the room is {version}"
        ));
    }
    let rules = version.rules().ok_or("no rules for the room version")?;
    let state = rooms.current_state(room).map_err(|e| e.to_string())?;
    let db = rooms.db();
    let mut auth_events = Vec::new();
    for (kind, key) in [
        ("m.room.create", ""),
        ("m.room.power_levels", ""),
        ("m.room.member", user),
    ] {
        let short = rooms
            .state_event_id(&state, kind, key)
            .map_err(|e| e.to_string())?
            .ok_or(format!("the sender has no {kind} of the room: did the join work?"))?;
        auth_events.push(V::String(db.event_id_of(short).map_err(|e| e.to_string())?.to_string()));
    }
    let extremities = db.extremities(room).map_err(|e| e.to_string())?;
    let mut depth = 0u64;
    for id in &extremities {
        if let Some(pdu) = rooms.pdu_by_id(id).map_err(|e| e.to_string())? {
            depth = depth.max(u64::from(pdu.depth));
        }
    }
    let mut prev: Vec<V> = extremities.iter().map(|id| V::String(id.to_string())).collect();
    let identity = rooms.identity();
    let mut pdus = Vec::with_capacity(count);
    for i in 0..count {
        depth += 1;
        let mut event = CanonicalJsonObject::new();
        event.insert("room_id".to_owned(), V::String(room_id.to_owned()));
        event.insert("sender".to_owned(), V::String(user_id.to_string()));
        event.insert("type".to_owned(), V::String("m.room.message".to_owned()));
        let mut content = CanonicalJsonObject::new();
        content.insert("msgtype".to_owned(), V::String("m.text".to_owned()));
        content.insert("body".to_owned(), V::String(format!("federation benchmark {i}")));
        event.insert("content".to_owned(), V::Object(content));
        event.insert("prev_events".to_owned(), V::Array(prev));
        event.insert("auth_events".to_owned(), V::Array(auth_events.clone()));
        event.insert(
            "depth".to_owned(),
            V::Integer(Int::try_from(depth).map_err(|e| e.to_string())?),
        );
        let now = accord_core::time::now_millis();
        event.insert(
            "origin_server_ts".to_owned(),
            V::Integer(Int::try_from(now).map_err(|e| e.to_string())?),
        );
        signatures::hash_and_sign_event(
            identity.server_name.as_str(),
            identity.key.as_ref(),
            &mut event,
            &rules.redaction,
        )
        .map_err(|e| e.to_string())?;
        let id = format!(
            "${}",
            signatures::reference_hash(&event, &rules).map_err(|e| e.to_string())?
        );
        prev = vec![V::String(id)];
        pdus.push(serde_json::value::to_raw_value(&event).map_err(|e| e.to_string())?);
    }
    Ok(pdus)
}
