//! Read receipts and read markers. A receipt is unthreaded, for the main timeline (`main`),
//! or for one thread (its root's event ID), as the spec's "Threaded read receipts" says; each
//! kind is kept apart and moves forward on its own.

use accord_core::time::now_millis;
use accord_db::rooms::Receipt;
pub use accord_db::rooms::ReceiptSlot;
use ruma::events::receipt::ReceiptThread;
use ruma::events::room::member::MembershipState;
use ruma::{EventId, RoomId, UserId};
use serde_json::{Map, Value, json};

use super::RoomService;
use crate::{AuthedUser, Error, Result};

/// Public read receipts.
pub const READ: &str = "m.read";
/// Private read receipts (only the user sees them).
pub const READ_PRIVATE: &str = "m.read.private";

/// The storage slot of a receipt of `kind` for `thread`; `Err` names a thread ID that is
/// neither `main` nor an event ID (spec: 400 `M_INVALID_PARAM`).
pub fn receipt_slot(kind: &str, thread: &ReceiptThread) -> Result<ReceiptSlot> {
    let thread = match thread {
        ReceiptThread::Unthreaded => None,
        ReceiptThread::Main => Some("main".to_owned()),
        ReceiptThread::Thread(root) => Some(root.to_string()),
        other => {
            let id = other.as_str().unwrap_or_default();
            return Err(Error::invalid_param(format!(
                "thread_id must be \"main\" or a thread root's event ID, not {id:?}"
            )));
        }
    };
    Ok(ReceiptSlot {
        kind: kind.to_owned(),
        thread,
    })
}

/// The `thread_id` a stored slot is sent to other servers with (slots are checked by
/// [`receipt_slot`] before they are stored, so the fallback is never taken).
pub fn thread_of_slot(slot: &ReceiptSlot) -> ReceiptThread {
    ReceiptThread::try_from(slot.thread.as_deref()).unwrap_or(ReceiptThread::Unthreaded)
}

impl RoomService {
    /// `POST /rooms/{roomId}/receipt/{type}/{eventId}` for `m.read` and `m.read.private`:
    /// receipts only move forward; an older event leaves the receipt as it is.
    ///
    /// A threaded receipt is not checked against the event's thread: Synapse accepts any event
    /// of the room, and Complement's TestThreadedReceipts marks a thread read with a reaction
    /// outside it.
    pub fn set_receipt(
        &self,
        user: &AuthedUser,
        room_id: &RoomId,
        slot: &ReceiptSlot,
        event_id: &EventId,
    ) -> Result<()> {
        self.joined_state(room_id, &user.user_id)?;
        self.store_receipt(room_id, &user.user_id, slot, event_id, now_millis())
            .map(drop)
    }

    /// An `m.read` receipt another server reported for one of its users (who must be joined
    /// here); ignored unless it moves the receipt forward. Returns whether it was stored.
    pub fn apply_remote_receipt(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        slot: &ReceiptSlot,
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
        self.store_receipt(room_id, user_id, slot, event_id, ts)
    }

    /// Stores a receipt if it moves forward; returns whether it did.
    fn store_receipt(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        slot: &ReceiptSlot,
        event_id: &EventId,
        ts: u64,
    ) -> Result<bool> {
        let db = self.rooms.db();
        let not_found = || Error::not_found(format!("Event {event_id} not found in {room_id}"));
        let short = db.get_short_event_id(event_id)?.ok_or_else(not_found)?;
        let meta = db.event_meta(short)?;
        let event_count = meta.count.filter(|_| meta.room_id == room_id).ok_or_else(not_found)?;
        if db
            .get_receipt(room_id, user_id, slot)?
            .is_some_and(|current| current.event_count >= event_count)
        {
            return Ok(false);
        }
        let receipt = Receipt {
            event_id: event_id.to_owned(),
            event_count,
            ts,
        };
        db.write_at_next_count(|batch, count| db.put_receipt(batch, room_id, user_id, slot, &receipt, count))?;
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

    /// The `m.receipt` ephemeral events for `viewer`: all receipts initially, or those changed
    /// in `(since, until]`; private receipts only the viewer's own.
    ///
    /// One user can hold an unthreaded and a threaded receipt on the same event, which one
    /// `content` map can't carry (matrix-spec issue 1727), so each thread's receipts go in an
    /// event of their own: unthreaded first, then one per thread (`main` among them).
    pub(crate) fn receipt_events(
        &self,
        viewer: &UserId,
        room_id: &RoomId,
        since: Option<u64>,
        until: u64,
    ) -> Result<Vec<Value>> {
        let db = self.rooms.db();
        let receipts: Vec<(ruma::OwnedUserId, ReceiptSlot, Receipt)> = match since {
            None => db.receipts_of_room(room_id)?,
            Some(since) => {
                let mut changed = Vec::new();
                for (user, slot) in db.receipts_changed(room_id, since, until)? {
                    if let Some(receipt) = db.get_receipt(room_id, &user, &slot)? {
                        changed.push((user, slot, receipt));
                    }
                }
                changed
            }
        };
        let mut by_thread: std::collections::BTreeMap<Option<String>, Map<String, Value>> = Default::default();
        for (user, slot, receipt) in receipts {
            if slot.kind == READ_PRIVATE && user != viewer {
                continue;
            }
            let mut data = json!({ "ts": receipt.ts });
            if let Some(thread) = &slot.thread {
                data["thread_id"] = json!(thread);
            }
            let content = by_thread.entry(slot.thread.clone()).or_default();
            let by_event = content.entry(receipt.event_id.to_string()).or_insert_with(|| json!({}));
            by_event[&slot.kind][user.as_str()] = data;
        }
        Ok(by_thread
            .into_values()
            .map(|content| json!({ "type": "m.receipt", "content": content }))
            .collect())
    }
}
