//! Thread subscriptions (MSC4306): per user, room and thread root, whether the user follows
//! the thread, how (by hand or automatically), and where they last unsubscribed.

use accord_storage::codec::{KeyBuilder, KeyReader};
use ruma::{EventId, OwnedEventId, OwnedRoomId, RoomId, UserId};
use serde::{Deserialize, Serialize};

use crate::{Db, Error, Result, database::encode, tables::USERID_ROOMID_ROOT_THREADSUB};

/// One user's subscription to one thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadSubscription {
    /// Subscribed now.
    pub subscribed: bool,
    /// Subscribed automatically (by the client, on the user's activity) rather than by hand.
    pub automatic: bool,
    /// The room's timeline position when the user last unsubscribed: automatic subscriptions
    /// caused by events up to here are refused.
    pub unsubscribed_at: Option<u64>,
    /// The stream position of the last change.
    pub stream_id: u64,
}

fn key(user_id: &UserId, room_id: &RoomId, root: &EventId) -> Vec<u8> {
    KeyBuilder::new()
        .str(user_id.as_str())
        .str(room_id.as_str())
        .str(root.as_str())
        .build()
}

impl Db {
    /// A user's subscription to a thread, if they ever had one.
    pub fn thread_subscription(
        &self,
        user_id: &UserId,
        room_id: &RoomId,
        root: &EventId,
    ) -> Result<Option<ThreadSubscription>> {
        self.get_json(USERID_ROOMID_ROOT_THREADSUB, &key(user_id, room_id, root))
    }

    /// Stores a subscription change at the next stream position.
    pub fn put_thread_subscription(
        &self,
        user_id: &UserId,
        room_id: &RoomId,
        root: &EventId,
        change: impl FnOnce(u64) -> ThreadSubscription,
    ) -> Result<()> {
        self.write_at_next_count(|batch, count| {
            batch.put(
                USERID_ROOMID_ROOT_THREADSUB,
                key(user_id, room_id, root),
                encode(&change(count)),
            );
        })?;
        Ok(())
    }

    /// Every subscription of `user_id` whose last change is in `(since, until]`, newest first.
    /// A user follows few threads, so this reads all of theirs.
    pub fn thread_subscriptions_changed(
        &self,
        user_id: &UserId,
        since: Option<u64>,
        until: u64,
    ) -> Result<Vec<(OwnedRoomId, OwnedEventId, ThreadSubscription)>> {
        let prefix = KeyBuilder::new().str(user_id.as_str()).prefix();
        let corrupt = |reason: String| Error::Corrupt {
            table: USERID_ROOMID_ROOT_THREADSUB,
            reason,
        };
        let mut changed = Vec::new();
        for (key, subscription) in self.scan_json::<ThreadSubscription>(USERID_ROOMID_ROOT_THREADSUB, &prefix)? {
            if subscription.stream_id > until || since.is_some_and(|since| subscription.stream_id <= since) {
                continue;
            }
            let mut reader = KeyReader::new(&key);
            reader.str().map_err(|e| corrupt(e.to_string()))?;
            let room = reader.str().map_err(|e| corrupt(e.to_string()))?;
            let root = reader.str().map_err(|e| corrupt(e.to_string()))?;
            let room = OwnedRoomId::try_from(room).map_err(|e| corrupt(e.to_string()))?;
            let root = OwnedEventId::try_from(root).map_err(|e| corrupt(e.to_string()))?;
            changed.push((room, root, subscription));
        }
        changed.sort_by_key(|(_, _, subscription)| std::cmp::Reverse(subscription.stream_id));
        Ok(changed)
    }
}
