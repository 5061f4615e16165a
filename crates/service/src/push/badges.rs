//! Badge-only pushes: when a user reads (a read receipt of theirs moves), the app badge on
//! their phones should drop without waiting for the next message. The push gateway API allows
//! a notification with only `counts` for this; Synapse sends one to every HTTP pusher of the
//! user whenever their badge differs from the last one it sent, and iOS apps rely on it to
//! clear the badge. Kept in memory like Synapse's: after a restart the first change is sent.

use std::collections::{HashMap, HashSet};

use accord_db::PusherRecord;
use ruma::{OwnedUserId, UserId};
use serde_json::{Value, json};

use crate::{Result, Services};

/// Users whose badge may have changed, and the badge last sent to each pusher. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub(super) struct Badges {
    changed: std::sync::Arc<parking_lot::Mutex<HashSet<OwnedUserId>>>,
    sent: std::sync::Arc<parking_lot::Mutex<HashMap<String, u64>>>,
}

impl Badges {
    pub(super) fn mark_changed(&self, user_id: &UserId) {
        self.changed.lock().insert(user_id.to_owned());
    }

    /// The users marked since the last call.
    pub(super) fn take_changed(&self) -> HashSet<OwnedUserId> {
        std::mem::take(&mut *self.changed.lock())
    }

    /// Remembers that `pusher_key` was told `badge` (with a notification or on its own).
    pub(super) fn record_sent(&self, pusher_key: &str, badge: u64) {
        self.sent.lock().insert(pusher_key.to_owned(), badge);
    }

    fn already_sent(&self, pusher_key: &str, badge: u64) -> bool {
        self.sent.lock().get(pusher_key) == Some(&badge)
    }
}

impl Services {
    /// Sends `pusher` its user's badge on its own if it differs from what it was last told.
    /// A failed attempt backs the pusher off like a failed notification; the badge goes again
    /// with the next change or notification, so it is not retried on its own.
    pub(super) async fn send_badge_update(&self, pusher: &PusherRecord, key: &str, url: &str) -> Result<()> {
        let badge = self.unread_badge(&pusher.user_id)?;
        if self.push.badges.already_sent(key, badge) {
            return Ok(());
        }
        let payload = badge_payload(pusher, badge);
        match self.push.fetcher.post_json(url, &payload).await {
            Ok((status, _)) if (200..300).contains(&status) => {
                self.push.badges.record_sent(key, badge);
                self.push.backoff.succeeded(key);
            }
            Ok((status, _)) => {
                self.push.backoff.failed(key);
                tracing::info!(user = %pusher.user_id, status, "push gateway refused a badge update");
            }
            Err(err) => {
                self.push.backoff.failed(key);
                tracing::info!(user = %pusher.user_id, %err, "push gateway unreachable for a badge update");
            }
        }
        Ok(())
    }
}

/// A notification with only the badge (spec: `event_id` and `room_id` "may be omitted for
/// notifications that only contain updated badge counts"); low priority, so it doesn't wake the
/// device.
fn badge_payload(pusher: &PusherRecord, badge: u64) -> Value {
    json!({
        "notification": {
            "prio": "low",
            "counts": { "unread": badge },
            "devices": [super::delivery::gateway_device(pusher)],
        }
    })
}
