//! Read receipts and read markers, and the unread notification counts derived from them and
//! the user's push rules.

use accord_core::time::now_millis;
use accord_db::{Direction, rooms::Receipt};
use ruma::events::room::member::MembershipState;
use ruma::{
    EventId, RoomId, UInt, UserId,
    push::{Action, PushConditionRoomCtx, Ruleset},
    serde::Raw,
};
use serde_json::{Map, Value, json};

use super::RoomService;
use crate::{AuthedUser, Error, Result};

/// Public read receipts.
pub const READ: &str = "m.read";
/// Private read receipts (only the user sees them).
pub const READ_PRIVATE: &str = "m.read.private";

/// Most events examined when counting unread notifications in one go.
const MAX_UNREAD_SCAN: usize = 1000;

/// Users x rooms whose counts are kept in memory.
const MAX_CACHED_UNREAD: usize = 100_000;

/// A running unread count for one user in one room.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UnreadCounts {
    /// The position counting started after (the receipt, or the join).
    from: u64,
    /// Events up to here are counted.
    counted_until: u64,
    notifications: u64,
    highlights: u64,
}

impl RoomService {
    /// `POST /rooms/{roomId}/receipt/{type}/{eventId}` for `m.read` and `m.read.private`:
    /// receipts only move forward; an older event leaves the receipt as it is.
    pub fn set_receipt(&self, user: &AuthedUser, room_id: &RoomId, kind: &str, event_id: &EventId) -> Result<()> {
        self.joined_state(room_id, &user.user_id)?;
        self.store_receipt(room_id, &user.user_id, kind, event_id, now_millis())
            .map(drop)
    }

    /// An `m.read` receipt another server reported for one of its users (who must be joined
    /// here); ignored unless it moves the receipt forward. Returns whether it was stored.
    pub fn apply_remote_receipt(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        event_id: &EventId,
        ts: u64,
    ) -> Result<bool> {
        let joined = self
            .rooms
            .db()
            .get_membership(user_id, room_id)?
            .is_some_and(|m| m.membership == MembershipState::Join);
        if !joined {
            return Ok(false);
        }
        self.store_receipt(room_id, user_id, READ, event_id, ts)
    }

    /// Stores a receipt if it moves forward; returns whether it did.
    fn store_receipt(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        kind: &str,
        event_id: &EventId,
        ts: u64,
    ) -> Result<bool> {
        let db = self.rooms.db();
        let not_found = || Error::not_found(format!("Event {event_id} not found in {room_id}"));
        let short = db.get_short_event_id(event_id)?.ok_or_else(not_found)?;
        let meta = db.event_meta(short)?;
        let event_count = meta.count.filter(|_| meta.room_id == room_id).ok_or_else(not_found)?;
        if db
            .get_receipt(room_id, user_id, kind)?
            .is_some_and(|current| current.event_count >= event_count)
        {
            return Ok(false);
        }
        let receipt = Receipt {
            event_id: event_id.to_owned(),
            event_count,
            ts,
        };
        db.write_at_next_count(|batch, count| db.put_receipt(batch, room_id, user_id, kind, &receipt, count))?;
        Ok(true)
    }

    /// `m.fully_read`: the room account data marker clients draw the "new messages" line at.
    pub fn set_fully_read(&self, user: &AuthedUser, room_id: &RoomId, event_id: &EventId) -> Result<()> {
        self.joined_state(room_id, &user.user_id)?;
        let db = self.rooms.db();
        let content = json!({ "event_id": event_id });
        db.write_at_next_count(|batch, count| {
            db.put_account_data(batch, &user.user_id, Some(room_id), "m.fully_read", &content, count)
        })?;
        Ok(())
    }

    /// The `m.receipt` ephemeral event for `viewer`: all receipts initially, or those changed
    /// in `(since, until]`; private receipts only the viewer's own.
    pub(crate) fn receipt_event(
        &self,
        viewer: &UserId,
        room_id: &RoomId,
        since: Option<u64>,
        until: u64,
    ) -> Result<Option<Value>> {
        let db = self.rooms.db();
        let receipts: Vec<(ruma::OwnedUserId, String, Receipt)> = match since {
            None => db.receipts_of_room(room_id)?,
            Some(since) => {
                let mut changed = Vec::new();
                for (user, kind) in db.receipts_changed(room_id, since, until)? {
                    if let Some(receipt) = db.get_receipt(room_id, &user, &kind)? {
                        changed.push((user, kind, receipt));
                    }
                }
                changed
            }
        };
        let mut content = Map::new();
        for (user, kind, receipt) in receipts {
            if kind == READ_PRIVATE && user != viewer {
                continue;
            }
            let by_event = content.entry(receipt.event_id.to_string()).or_insert_with(|| json!({}));
            by_event[&kind][user.as_str()] = json!({ "ts": receipt.ts });
        }
        Ok((!content.is_empty()).then(|| json!({ "type": "m.receipt", "content": content })))
    }

    /// Unread notification and highlight counts: events after the user's latest read receipt
    /// (public or private) whose push rules say notify.
    ///
    /// Counts are kept per user and room in memory and extended with the events since the
    /// last count, so a sync costs O(new events); a moved receipt or a restart recounts once.
    pub(crate) fn unread_counts(
        &self,
        user_id: &UserId,
        room_id: &RoomId,
        ruleset: &Ruleset,
        until: u64,
    ) -> Result<(u64, u64)> {
        let db = self.rooms.db();
        let read_up_to = [READ, READ_PRIVATE]
            .iter()
            .filter_map(|kind| db.get_receipt(room_id, user_id, kind).ok().flatten())
            .map(|r| r.event_count)
            .max();
        let joined_at = db.get_membership(user_id, room_id)?.map(|m| m.count).unwrap_or(0);
        let from = read_up_to.unwrap_or(joined_at).max(joined_at);
        let key = (user_id.to_owned(), room_id.to_owned());
        let cached = self.unread.lock().get(&key).copied();
        let mut counts = match cached {
            Some(counts) if counts.from == from && counts.counted_until <= until => counts,
            _ => UnreadCounts {
                from,
                counted_until: from,
                notifications: 0,
                highlights: 0,
            },
        };
        if counts.counted_until < until {
            let (notifications, highlights) =
                self.count_notifying(user_id, room_id, ruleset, counts.counted_until, until)?;
            counts.notifications += notifications;
            counts.highlights += highlights;
            counts.counted_until = until;
            let mut cache = self.unread.lock();
            if cache.len() >= MAX_CACHED_UNREAD {
                cache.clear();
            }
            cache.insert(key, counts);
        }
        Ok((counts.notifications, counts.highlights))
    }

    /// Notifying and highlighting events in `(after, until]` not sent by the user.
    fn count_notifying(
        &self,
        user_id: &UserId,
        room_id: &RoomId,
        ruleset: &Ruleset,
        after: u64,
        until: u64,
    ) -> Result<(u64, u64)> {
        let db = self.rooms.db();
        let events = db.timeline(
            room_id,
            after,
            Some(until.saturating_add(1)),
            Direction::Forward,
            MAX_UNREAD_SCAN,
        )?;
        if events.is_empty() {
            return Ok((0, 0));
        }
        let members = db
            .members_of_room(room_id)?
            .into_iter()
            .filter(|(_, m)| *m == MembershipState::Join)
            .count();
        let display_name = db
            .profile(user_id)?
            .get("displayname")
            .and_then(Value::as_str)
            .unwrap_or(user_id.localpart())
            .to_owned();
        let context = PushConditionRoomCtx::new(
            room_id.to_owned(),
            UInt::try_from(members).unwrap_or(UInt::MAX),
            user_id.to_owned(),
            display_name,
        );
        let (mut notifications, mut highlights) = (0, 0);
        for (_, short) in events {
            let Some(pdu) = self.rooms.pdu(short)? else { continue };
            if pdu.sender == user_id || pdu.rejected {
                continue;
            }
            let event = pdu.to_client_event(Map::new());
            let Ok(raw) = serde_json::value::to_raw_value(&event) else {
                continue;
            };
            let raw: Raw<ruma::events::AnySyncTimelineEvent> = Raw::from_json(raw);
            let actions = futures::executor::block_on(ruleset.get_actions(&raw, &context));
            if actions.iter().any(Action::should_notify) {
                notifications += 1;
                if actions.iter().any(Action::is_highlight) {
                    highlights += 1;
                }
            }
        }
        Ok((notifications, highlights))
    }
}
