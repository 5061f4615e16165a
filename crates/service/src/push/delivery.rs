//! Delivery to HTTP pushers (spec: push gateway API, `POST /_matrix/push/v1/notify`): each
//! pusher sends its user's notifications in order; a failing gateway is retried with backoff
//! (1 s doubling to 1 h), and a notification undelivered for 24 hours is dropped so one bad
//! event can't hold the rest back forever. A pushkey the gateway rejects deletes its pusher.

use std::time::Duration;

use accord_core::time::now_millis;
use accord_db::{NotificationRecord, PusherProgress, PusherRecord};
use ruma::events::StateEventType;
use serde_json::{Map, Value, json};

use crate::{Result, Services};

/// Notifications sent per pusher per pass.
const BATCH: usize = 20;

/// The first retry delay after a failure.
pub(super) const FIRST_DELAY: Duration = Duration::from_secs(1);

/// The longest retry delay.
pub(super) const MAX_DELAY: Duration = Duration::from_secs(60 * 60);

/// How long a notification is retried before it is dropped, ms.
const GIVE_UP_AFTER_MS: u64 = 24 * 60 * 60 * 1000;

/// What one attempt came to.
enum Attempt {
    Delivered,
    Rejected,
    Failed(String),
}

impl Services {
    /// One delivery pass over every HTTP pusher not backing off.
    pub(crate) async fn deliver_pushes(&self) {
        let pushers = match self.db().all_pushers() {
            Ok(pushers) => pushers,
            Err(err) => {
                tracing::warn!(%err, "pushers unreadable");
                return;
            }
        };
        let read_since_last_pass = self.push.badges.take_changed();
        for pusher in pushers.into_iter().filter(|p| p.kind == "http") {
            let key = format!("{}\u{1}{}\u{1}{}", pusher.user_id, pusher.app_id, pusher.pushkey);
            if self.push.backoff.waiting(&key) {
                continue;
            }
            if let Err(err) = self.deliver_to(&pusher, &key).await {
                tracing::warn!(user = %pusher.user_id, app_id = %pusher.app_id, %err, "push delivery failed");
                continue;
            }
            let Some(url) = pusher.data.get("url").and_then(Value::as_str) else {
                continue;
            };
            if read_since_last_pass.contains(&pusher.user_id)
                && !self.push.backoff.waiting(&key)
                && let Err(err) = self.send_badge_update(&pusher, &key, url).await
            {
                tracing::warn!(user = %pusher.user_id, app_id = %pusher.app_id, %err, "badge update failed");
            }
        }
    }

    async fn deliver_to(&self, pusher: &PusherRecord, key: &str) -> Result<()> {
        let db = self.db();
        let mut progress = db.pusher_progress(pusher)?;
        let Some(url) = pusher.data.get("url").and_then(Value::as_str) else {
            return Ok(());
        };
        let pending = db.notifications_after(&pusher.user_id, progress.delivered_until, BATCH)?;
        if pending.is_empty() {
            return Ok(());
        }
        // The badge as of now: the same for every notification of this pass.
        let badge = self.unread_badge(&pusher.user_id)?;
        for (count, record) in pending {
            let Some(payload) = self.push_payload(pusher, &record, badge)? else {
                progress.delivered_until = count;
                continue;
            };
            match self.attempt(url, &payload, pusher).await {
                Attempt::Delivered => {
                    progress = PusherProgress {
                        delivered_until: count,
                        failing_since: None,
                    };
                    self.push.backoff.succeeded(key);
                    self.push.badges.record_sent(key, badge);
                }
                Attempt::Rejected => {
                    tracing::info!(user = %pusher.user_id, app_id = %pusher.app_id, "the push gateway rejected the pushkey; pusher deleted");
                    db.delete_pusher(&pusher.user_id, &pusher.app_id, &pusher.pushkey)?;
                    return Ok(());
                }
                Attempt::Failed(why) => {
                    let since = *progress.failing_since.get_or_insert_with(now_millis);
                    if now_millis().saturating_sub(since) > GIVE_UP_AFTER_MS {
                        tracing::warn!(user = %pusher.user_id, event = %record.event_id, %why, "notification dropped after a day of failed deliveries");
                        progress = PusherProgress {
                            delivered_until: count,
                            failing_since: None,
                        };
                        self.push.backoff.succeeded(key);
                        continue;
                    }
                    self.push.backoff.failed(key);
                    tracing::info!(user = %pusher.user_id, %why, "push gateway failing; will retry");
                    db.put_pusher_progress(pusher, &progress)?;
                    return Ok(());
                }
            }
            db.put_pusher_progress(pusher, &progress)?;
        }
        db.put_pusher_progress(pusher, &progress)?;
        Ok(())
    }

    async fn attempt(&self, url: &str, payload: &Value, pusher: &PusherRecord) -> Attempt {
        match self.push.fetcher.post_json(url, payload).await {
            Ok((status, answer)) if (200..300).contains(&status) => {
                let rejected = answer["rejected"]
                    .as_array()
                    .is_some_and(|keys| keys.iter().any(|key| key.as_str() == Some(pusher.pushkey.as_str())));
                if rejected {
                    Attempt::Rejected
                } else {
                    Attempt::Delivered
                }
            }
            Ok((status, _)) => Attempt::Failed(format!("the gateway answered {status}")),
            Err(err) => Attempt::Failed(err.to_string()),
        }
    }

    /// The gateway's request for one notification; `None` when the event is gone or
    /// redacted (nothing to tell).
    fn push_payload(&self, pusher: &PusherRecord, record: &NotificationRecord, badge: u64) -> Result<Option<Value>> {
        let rooms = self.rooms.rooms();
        let Some(pdu) = rooms.pdu_by_id(&record.event_id)? else {
            return Ok(None);
        };
        let redacted = self
            .db()
            .get_short_event_id(&record.event_id)?
            .map(|short| self.db().event_meta(short))
            .transpose()?
            .is_some_and(|meta| meta.redacted_by.is_some());
        if redacted {
            return Ok(None);
        }
        let tweaks = tweaks_of(&record.actions);
        let high = pdu.kind.to_string() == "m.room.encrypted"
            || tweaks.get("highlight").is_some_and(|v| v != &Value::Bool(false))
            || tweaks.contains_key("sound");
        let event_id_only = pusher.data.get("format").and_then(Value::as_str) == Some("event_id_only");
        let mut device = gateway_device(pusher);
        if !event_id_only && !tweaks.is_empty() {
            device["tweaks"] = Value::Object(tweaks);
        }
        let mut notification = json!({
            "event_id": pdu.event_id,
            "room_id": pdu.room_id,
            "prio": if high { "high" } else { "low" },
            "counts": { "unread": badge },
            "devices": [device],
        });
        if !event_id_only {
            let state = rooms.current_state(&pdu.room_id)?;
            notification["type"] = json!(pdu.kind.to_string());
            notification["sender"] = json!(pdu.sender);
            let member = rooms.state_event(&state, &StateEventType::RoomMember, pdu.sender.as_str())?;
            if let Some(name) = member.and_then(|m| m.content_value()["displayname"].as_str().map(str::to_owned)) {
                notification["sender_display_name"] = json!(name);
            }
            if let Some(name) = rooms
                .state_event(&state, &StateEventType::RoomName, "")?
                .and_then(|e| e.content_value()["name"].as_str().map(str::to_owned))
                .filter(|name| !name.is_empty())
            {
                notification["room_name"] = json!(name);
            }
            if let Some(alias) = rooms
                .state_event(&state, &StateEventType::RoomCanonicalAlias, "")?
                .and_then(|e| e.content_value()["alias"].as_str().map(str::to_owned))
            {
                notification["room_alias"] = json!(alias);
            }
            if pdu.kind.to_string() == "m.room.member" {
                notification["membership"] = pdu.content_value()["membership"].clone();
                notification["user_is_target"] = json!(pdu.state_key.as_deref() == Some(pusher.user_id.as_str()));
            }
            let content = pdu.content_value();
            if self.config.push.include_content && content.as_object().is_some_and(|c| !c.is_empty()) {
                notification["content"] = content;
            }
        }
        Ok(Some(json!({ "notification": notification })))
    }

    /// The app badge: rooms with unread notifications (Synapse's default count).
    pub(super) fn unread_badge(&self, user_id: &ruma::UserId) -> Result<u64> {
        let ruleset = self.push_rules.ruleset(user_id)?;
        let until = self.db().visible_count();
        let mut rooms = 0;
        for room_id in self.rooms.joined_rooms(user_id)? {
            if self
                .rooms
                .unread_counts(user_id, &room_id, &ruleset, until)?
                .total()
                .notifications
                > 0
            {
                rooms += 1;
            }
        }
        Ok(rooms)
    }
}

/// The pusher as the gateway's `devices` entry: its `data` without the `url` (the gateway's
/// own address is not news to it), `pushkey_ts` in seconds.
pub(super) fn gateway_device(pusher: &PusherRecord) -> Value {
    let mut data = pusher.data.clone();
    if let Some(fields) = data.as_object_mut() {
        fields.remove("url");
    }
    json!({
        "app_id": pusher.app_id,
        "pushkey": pusher.pushkey,
        "pushkey_ts": pusher.pushkey_ts / 1000,
        "data": data,
    })
}

/// The `set_tweak` actions as the gateway's `tweaks` (`highlight` without a value is true).
fn tweaks_of(actions: &Value) -> Map<String, Value> {
    let mut tweaks = Map::new();
    for action in actions.as_array().into_iter().flatten() {
        if let Some(name) = action["set_tweak"].as_str() {
            let value = action.get("value").cloned().unwrap_or(Value::Bool(true));
            tweaks.insert(name.to_owned(), value);
        }
    }
    tweaks
}
