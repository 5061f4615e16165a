//! Notifications (spec: "Push notifications", `/notifications`): the events a user's push
//! rules said notify, in stream order, with the actions; what pushers deliver and
//! `/notifications` lists. Written by the push notifier as it follows the timeline, together
//! with its position, so none is written twice or lost.

use accord_storage::{
    Direction, WriteBatch,
    codec::{KeyBuilder, KeyReader},
};
use ruma::{OwnedEventId, OwnedRoomId, UserId};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{
    Db, Error, Result,
    database::{decode, encode},
    tables::{GLOBAL, USERID_COUNT_NOTIFICATION},
};

/// Where the push notifier has followed the timeline to.
const NOTIFIER_POSITION_KEY: &[u8] = b"push_notifier_position";

/// One notification of a user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationRecord {
    /// The room.
    pub room_id: OwnedRoomId,
    /// The event.
    pub event_id: OwnedEventId,
    /// The push actions the user's rules gave it.
    pub actions: Value,
    /// Whether the actions highlight.
    pub highlight: bool,
    /// When the event arrived here, ms since the epoch.
    pub ts: u64,
}

fn corrupt(err: accord_storage::codec::CodecError) -> Error {
    Error::Corrupt {
        table: USERID_COUNT_NOTIFICATION,
        reason: err.to_string(),
    }
}

impl Db {
    /// Queues a notification of `user_id` at stream position `count`.
    pub fn put_notification(&self, batch: &mut WriteBatch, user_id: &UserId, count: u64, record: &NotificationRecord) {
        let key = KeyBuilder::new().str(user_id.as_str()).u64(count).build();
        batch.put(USERID_COUNT_NOTIFICATION, key, encode(record));
    }

    /// Queues the notifier's new position.
    pub fn put_notifier_position(&self, batch: &mut WriteBatch, position: u64) {
        batch.put(GLOBAL, NOTIFIER_POSITION_KEY, position.to_be_bytes());
    }

    /// Where the notifier got to; `None` before its first run.
    pub fn notifier_position(&self) -> Result<Option<u64>> {
        self.get_raw(GLOBAL, NOTIFIER_POSITION_KEY)?
            .map(|bytes| crate::rooms::decode_position(GLOBAL, &bytes))
            .transpose()
    }

    /// A user's notifications before position `before` (all without it), newest first, at
    /// most `limit`, only highlights when asked.
    pub fn notifications_before(
        &self,
        user_id: &UserId,
        before: Option<u64>,
        limit: usize,
        only_highlight: bool,
    ) -> Result<Vec<(u64, NotificationRecord)>> {
        let prefix = KeyBuilder::new().str(user_id.as_str()).prefix();
        let start = KeyBuilder::new()
            .str(user_id.as_str())
            .u64(before.map_or(u64::MAX, |b| b.saturating_sub(1)))
            .build();
        self.notification_rows(&prefix, &start, Direction::Backward, limit, |record| {
            !only_highlight || record.highlight
        })
        .map(|rows| {
            rows.into_iter()
                .filter(|(count, _)| before.is_none_or(|b| *count < b))
                .collect()
        })
    }

    /// A user's notifications after position `after`, oldest first, at most `limit`.
    pub fn notifications_after(
        &self,
        user_id: &UserId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(u64, NotificationRecord)>> {
        let prefix = KeyBuilder::new().str(user_id.as_str()).prefix();
        let start = KeyBuilder::new()
            .str(user_id.as_str())
            .u64(after.saturating_add(1))
            .build();
        self.notification_rows(&prefix, &start, Direction::Forward, limit, |_| true)
    }

    fn notification_rows(
        &self,
        prefix: &[u8],
        start: &[u8],
        direction: Direction,
        limit: usize,
        keep: impl Fn(&NotificationRecord) -> bool,
    ) -> Result<Vec<(u64, NotificationRecord)>> {
        let mut found = Vec::new();
        for item in self
            .engine()
            .iter_from(USERID_COUNT_NOTIFICATION, Some(start), direction)?
        {
            let (key, value) = item?;
            if !key.starts_with(prefix) || found.len() == limit {
                break;
            }
            let mut reader = KeyReader::new(&key);
            reader.str().map_err(corrupt)?;
            let count = reader.u64().map_err(corrupt)?;
            let record: NotificationRecord = decode(USERID_COUNT_NOTIFICATION, &value)?;
            if keep(&record) {
                found.push((count, record));
            }
        }
        Ok(found)
    }
}
