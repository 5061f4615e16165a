//! Room helpers for tests: create rooms, send messages, sync.

use serde_json::{Value, json};

use crate::{TestServer, TestUser};

impl TestServer {
    /// `POST /createRoom` with `body`; returns the room id.
    pub async fn create_room(&self, user: &TestUser, body: Value) -> String {
        let reply = self
            .post("/_matrix/client/v3/createRoom", Some(&user.token), body)
            .await
            .ok();
        reply["room_id"].as_str().expect("room_id").to_owned()
    }

    /// Sends an `m.text` message with a fresh transaction id; returns the event id.
    pub async fn send_text(&self, user: &TestUser, room_id: &str, body: &str) -> String {
        self.send_event(
            user,
            room_id,
            "m.room.message",
            json!({ "msgtype": "m.text", "body": body }),
        )
        .await
    }

    /// Sends a message event of `kind` with a fresh transaction id; returns the event id.
    pub async fn send_event(&self, user: &TestUser, room_id: &str, kind: &str, content: Value) -> String {
        let txn = format!("t{}", rand_suffix());
        let path = format!("/_matrix/client/v3/rooms/{room_id}/send/{kind}/{txn}");
        let reply = self.put(&path, Some(&user.token), content).await.ok();
        reply["event_id"].as_str().expect("event_id").to_owned()
    }

    /// `GET /sync` with an optional `since`, timeout in ms and inline filter.
    pub async fn sync(&self, user: &TestUser, since: Option<&str>, timeout_ms: u64, filter: Option<Value>) -> Value {
        let mut path = format!("/_matrix/client/v3/sync?timeout={timeout_ms}");
        if let Some(since) = since {
            path.push_str(&format!("&since={since}"));
        }
        if let Some(filter) = filter {
            path.push_str(&format!("&filter={}", urlencode(&filter.to_string())));
        }
        self.get(&path, Some(&user.token)).await.ok()
    }

    /// `POST` simplified sliding sync (MSC4186) with `pos` and `timeout` in the query, as
    /// matrix-rust-sdk sends them.
    pub async fn sliding_sync(&self, user: &TestUser, pos: Option<&str>, timeout_ms: u64, body: Value) -> crate::Reply {
        let mut path = format!("/_matrix/client/unstable/org.matrix.simplified_msc3575/sync?timeout={timeout_ms}");
        if let Some(pos) = pos {
            path.push_str(&format!("&pos={}", urlencode(pos)));
        }
        self.post(&path, Some(&user.token), body).await
    }

    /// Joins a room by id or alias.
    pub async fn join(&self, user: &TestUser, room: &str) -> crate::Reply {
        self.post(
            &format!("/_matrix/client/v3/join/{}", urlencode(room)),
            Some(&user.token),
            json!({}),
        )
        .await
    }
}

/// Percent-encodes a path segment or query value.
pub fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{nanos}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}
