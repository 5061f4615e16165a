//! Thread subscriptions (MSC4306, unstable as Synapse serves them): a user follows a thread by
//! hand, or their client subscribes them automatically because of an event in the thread;
//! after unsubscribing, automatic subscriptions caused by older events are refused (409), so
//! a client catching up doesn't undo the user's choice.

use accord_db::{Direction, ThreadSubscription};
use ruma::{EventId, RoomId};

use super::RoomService;
use crate::{AuthedUser, Error, Result};

/// The refusal of an automatic subscription the user's unsubscription overrides.
const CONFLICTING_UNSUBSCRIPTION: &str = "IO.ELEMENT.MSC4306.M_CONFLICTING_UNSUBSCRIPTION";

/// The refusal of an automatic subscription whose cause is not in the thread.
const NOT_IN_THREAD: &str = "IO.ELEMENT.MSC4306.M_NOT_IN_THREAD";

impl RoomService {
    /// `GET .../thread/{root}/subscription`: `Some(automatic)` when subscribed; 404 otherwise.
    pub fn thread_subscription(&self, user: &AuthedUser, room_id: &RoomId, root: &EventId) -> Result<bool> {
        self.event(user, room_id, root)?;
        match self.rooms.db().thread_subscription(&user.user_id, room_id, root)? {
            Some(subscription) if subscription.subscribed => Ok(subscription.automatic),
            _ => Err(Error::not_found("Not subscribed to this thread")),
        }
    }

    /// `PUT .../thread/{root}/subscription`, by hand (`automatic: None`) or because of the
    /// event `automatic`, which must be in the thread.
    pub fn subscribe_thread(
        &self,
        user: &AuthedUser,
        room_id: &RoomId,
        root: &EventId,
        automatic: Option<&EventId>,
    ) -> Result<()> {
        self.event(user, room_id, root)?;
        let db = self.rooms.db();
        let cause_count = match automatic {
            None => None,
            Some(cause) => {
                let event = self.event(user, room_id, cause)?;
                let relates = &event["content"]["m.relates_to"];
                if relates["rel_type"] != "m.thread" || relates["event_id"].as_str() != Some(root.as_str()) {
                    return Err(Error::with_errcode(
                        NOT_IN_THREAD,
                        format!("{cause} is not in the thread of {root}"),
                    ));
                }
                db.get_short_event_id(cause)?
                    .map(|short| db.event_meta(short))
                    .transpose()?
                    .and_then(|meta| meta.count)
            }
        };
        let existing = db.thread_subscription(&user.user_id, room_id, root)?;
        if let Some(existing) = existing {
            if existing.subscribed && (!existing.automatic || automatic.is_some()) {
                return Ok(());
            }
            if !existing.subscribed
                && automatic.is_some()
                && let (Some(unsubscribed), Some(cause)) = (existing.unsubscribed_at, cause_count)
                && cause <= unsubscribed
            {
                return Err(Error::with_errcode(
                    CONFLICTING_UNSUBSCRIPTION,
                    "You unsubscribed from this thread after that event",
                ));
            }
        }
        let automatic = automatic.is_some();
        db.put_thread_subscription(&user.user_id, room_id, root, |stream_id| ThreadSubscription {
            subscribed: true,
            automatic,
            unsubscribed_at: None,
            stream_id,
        })?;
        Ok(())
    }

    /// `DELETE .../thread/{root}/subscription` (200 whether or not subscribed).
    pub fn unsubscribe_thread(&self, user: &AuthedUser, room_id: &RoomId, root: &EventId) -> Result<()> {
        self.event(user, room_id, root)?;
        let db = self.rooms.db();
        let subscribed = db
            .thread_subscription(&user.user_id, room_id, root)?
            .is_some_and(|s| s.subscribed);
        if !subscribed {
            return Ok(());
        }
        let latest = db
            .timeline(room_id, u64::MAX, None, Direction::Backward, 1)?
            .first()
            .map_or(0, |(count, _)| *count);
        db.put_thread_subscription(&user.user_id, room_id, root, |stream_id| ThreadSubscription {
            subscribed: false,
            automatic: false,
            unsubscribed_at: Some(latest),
            stream_id,
        })?;
        Ok(())
    }
}
