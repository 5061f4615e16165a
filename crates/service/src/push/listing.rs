//! `GET /notifications`: a user's notifications, newest first, each with whether the user
//! has read up to it.

use accord_db::rooms::ReceiptSlot;
use serde_json::Value;

use crate::{
    AuthedUser, Error, Result, Services,
    rooms::receipts::{READ, READ_PRIVATE},
};

/// Notifications per page without `limit` (Synapse's default).
const DEFAULT_LIMIT: usize = 50;

/// Most notifications per page.
const MAX_LIMIT: usize = 500;

/// One page of notifications.
#[derive(Debug, Clone)]
pub struct NotificationsPage {
    /// Each notification: `(event, actions, read, room_id, ts)`, newest first.
    pub notifications: Vec<(Value, Value, bool, ruma::OwnedRoomId, u64)>,
    /// Where the next page starts, when there may be one.
    pub next_token: Option<String>,
}

impl Services {
    /// The caller's notifications before `from`, only highlights when `only` is `highlight`.
    pub async fn notifications(
        &self,
        user: &AuthedUser,
        from: Option<&str>,
        limit: Option<usize>,
        only: Option<&str>,
    ) -> Result<NotificationsPage> {
        // Events that arrived a moment ago are listed too.
        self.notify_new_events().await?;
        let before = from
            .map(|token| token.parse::<u64>())
            .transpose()
            .map_err(|_| Error::invalid_param("from is not a token this server gave"))?;
        let limit = limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
        let rows = self
            .db()
            .notifications_before(&user.user_id, before, limit, only == Some("highlight"))?;
        let next_token = (rows.len() == limit)
            .then(|| rows.last().map(|(count, _)| count.to_string()))
            .flatten();
        let mut notifications = Vec::with_capacity(rows.len());
        for (count, record) in rows {
            let Ok(mut event) = self.rooms.event(user, &record.room_id, &record.event_id) else {
                continue;
            };
            if let Some(fields) = event.as_object_mut() {
                fields.remove("room_id");
            }
            let read = self.read_up_to(user, &record.room_id)? >= count;
            notifications.push((event, record.actions, read, record.room_id, record.ts));
        }
        Ok(NotificationsPage {
            notifications,
            next_token,
        })
    }

    /// How far the user has read a room: their furthest unthreaded or `main` receipt.
    fn read_up_to(&self, user: &AuthedUser, room_id: &ruma::RoomId) -> Result<u64> {
        let mut furthest = 0;
        for (slot, receipt) in self.db().receipts_of_user(room_id, &user.user_id)? {
            let counted = matches!(slot, ReceiptSlot { ref kind, ref thread }
                if (kind == READ || kind == READ_PRIVATE) && thread.as_deref().is_none_or(|t| t == "main"));
            if counted {
                furthest = furthest.max(receipt.event_count);
            }
        }
        Ok(furthest)
    }
}
