//! Delayed events (MSC4140): a message or state event scheduled to be sent after a delay,
//! which its owner can cancel, restart or send early (the management endpoints need no
//! login: whoever holds the delay id may act, which lets a client hand its "I'm gone" event
//! to a watchdog). Stored until sent, so they survive restarts: one overdue at start is sent
//! then. A delayed state event is cancelled when someone else sets the same state first.

use std::sync::Arc;

use accord_core::time::now_millis;
use accord_db::DelayedEventRecord;
use ruma::{OwnedDeviceId, RoomId, events::StateEventType};
use serde_json::Value;

use crate::{AuthedUser, Error, Result, Services};

/// The longest the scheduler sleeps without looking.
const MAX_SLEEP_MS: u64 = 60_000;

/// What to do with a delayed event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DelayedAction {
    /// Drop it.
    Cancel,
    /// Start its delay again from now.
    Restart,
    /// Send it now.
    Send,
}

/// One event to schedule.
#[derive(Debug, Clone)]
pub struct DelayedEvent {
    /// The room.
    pub room_id: ruma::OwnedRoomId,
    /// The event type.
    pub kind: String,
    /// The state key, for a state event.
    pub state_key: Option<String>,
    /// The content.
    pub content: Value,
    /// The delay, ms.
    pub delay_ms: u64,
    /// The client's transaction id (delayed messages): a retry answers the same delay id.
    pub txn: Option<String>,
}

/// Wakes the scheduler when something changed.
#[derive(Debug, Clone, Default)]
pub struct DelayedEvents {
    wake: Arc<tokio::sync::Notify>,
}

impl Services {
    /// Schedules an event; returns its delay id.
    pub fn schedule_delayed_event(&self, user: &AuthedUser, event: DelayedEvent) -> Result<String> {
        if let Some(txn) = &event.txn
            && let Some(delay_id) = self.db().delay_id_of_txn(&user.user_id, &user.device_id, txn)?
        {
            return Ok(delay_id);
        }
        // A scheduled event is an event sent: the same checks as sending it now.
        self.rooms.may_send(user, crate::rate_limits::RateClass::Message)?;
        let config = &self.config.delayed_events;
        let max_ms = config.max_delay_secs.saturating_mul(1000);
        if max_ms == 0 {
            return Err(Error::bad_json(
                "Delayed events are turned off on this server (delayed_events.max_delay_secs)",
            ));
        }
        if event.delay_ms == 0 || event.delay_ms > max_ms {
            return Err(Error::invalid_param(format!(
                "The delay must be between 1 and {max_ms} ms (M_MAX_DELAY_EXCEEDED)"
            )));
        }
        if !event.content.is_object() {
            return Err(Error::bad_json("Event content must be a JSON object"));
        }
        let joined = self
            .db()
            .get_membership(&user.user_id, &event.room_id)?
            .is_some_and(|m| m.membership == ruma::events::room::member::MembershipState::Join);
        if !joined {
            return Err(Error::forbidden(format!("You are not joined to {}", event.room_id)));
        }
        let db = self.db();
        let pending = db
            .delayed_events()?
            .iter()
            .filter(|d| d.user_id == user.user_id)
            .count();
        if pending >= config.max_pending_per_user {
            return Err(Error::invalid_param(format!(
                "You have {pending} delayed events waiting, the most this server keeps"
            )));
        }
        let record = DelayedEventRecord {
            delay_id: random_id(),
            user_id: user.user_id.clone(),
            device_id: user.device_id.clone(),
            room_id: event.room_id,
            kind: event.kind,
            state_key: event.state_key,
            content: event.content,
            delay_ms: event.delay_ms,
            running_since: now_millis(),
            scheduled_at: db.visible_count(),
        };
        db.put_delayed_event(&record, event.txn.as_deref())?;
        self.delayed.wake.notify_one();
        Ok(record.delay_id)
    }

    /// The caller's waiting delayed events.
    pub fn delayed_events_of(&self, user: &AuthedUser) -> Result<Vec<DelayedEventRecord>> {
        self.cancel_overridden()?;
        Ok(self
            .db()
            .delayed_events()?
            .into_iter()
            .filter(|record| record.user_id == user.user_id)
            .collect())
    }

    /// Cancels, restarts or sends a delayed event (404 for an unknown id).
    pub async fn update_delayed_event(&self, delay_id: &str, action: DelayedAction) -> Result<()> {
        let db = self.db();
        let Some(mut record) = db.delayed_event(delay_id)? else {
            return Err(Error::not_found(format!("No delayed event {delay_id}")));
        };
        match action {
            DelayedAction::Cancel => {
                db.delete_delayed_event(delay_id)?;
            }
            DelayedAction::Restart => {
                record.running_since = now_millis();
                db.put_delayed_event(&record, None)?;
            }
            DelayedAction::Send => self.send_delayed(&record).await?,
        }
        self.delayed.wake.notify_one();
        Ok(())
    }

    /// Sends what is due; returns when the next one is due. The server calls it once before
    /// its listeners open, so the first request after a restart already sees the overdue ones
    /// sent (Complement's TestDelayedEvents lists them at once after `StartServer`).
    pub async fn send_due_delayed_events(&self) -> Result<Option<u64>> {
        self.cancel_overridden()?;
        let now = now_millis();
        let mut next = None;
        for record in self.db().delayed_events()? {
            if record.due() <= now {
                if let Err(err) = self.send_delayed(&record).await {
                    tracing::info!(delay_id = %record.delay_id, %err, "a delayed event could not be sent");
                }
            } else {
                next = Some(next.map_or(record.due(), |n: u64| n.min(record.due())));
            }
        }
        Ok(next)
    }

    /// Sends one delayed event as its owner, then forgets it (also when sending failed: the
    /// room refused it, and trying again would not change that).
    async fn send_delayed(&self, record: &DelayedEventRecord) -> Result<()> {
        let owner = AuthedUser {
            user_id: record.user_id.clone(),
            device_id: OwnedDeviceId::from(record.device_id.as_str()),
            appservice: None,
        };
        let sent = match &record.state_key {
            Some(key) => {
                self.rooms
                    .send_state(&owner, &record.room_id, &record.kind, key, record.content.clone())
                    .await
            }
            None => {
                // The delay id as transaction id: sent once even if a crash repeats this.
                let txn = format!("delayed-{}", record.delay_id);
                self.rooms
                    .send_message(&owner, &record.room_id, &record.kind, &txn, record.content.clone())
                    .await
            }
        };
        self.db().delete_delayed_event(&record.delay_id)?;
        let event_id = sent?;
        tracing::debug!(delay_id = %record.delay_id, %event_id, "delayed event sent");
        Ok(())
    }

    /// Cancels delayed state events whose state someone else has set since they were
    /// scheduled (MSC4140; the owner's own later state doesn't cancel them).
    fn cancel_overridden(&self) -> Result<()> {
        let db = self.db();
        for record in db.delayed_events()? {
            let Some(key) = &record.state_key else { continue };
            if self.state_set_by_other_since(&record, &record.room_id, key)? {
                tracing::debug!(delay_id = %record.delay_id, "delayed state event cancelled by newer state");
                db.delete_delayed_event(&record.delay_id)?;
            }
        }
        Ok(())
    }

    fn state_set_by_other_since(&self, record: &DelayedEventRecord, room_id: &RoomId, key: &str) -> Result<bool> {
        let rooms = self.rooms.rooms();
        let state = rooms.current_state(room_id)?;
        let Some(current) = rooms.state_event(&state, &StateEventType::from(record.kind.as_str()), key)? else {
            return Ok(false);
        };
        if current.sender == record.user_id {
            return Ok(false);
        }
        let count = self
            .db()
            .get_short_event_id(&current.event_id)?
            .map(|short| self.db().event_meta(short))
            .transpose()?
            .and_then(|meta| meta.count);
        Ok(count.is_some_and(|count| count > record.scheduled_at))
    }
}

/// Sends delayed events when due, until shutdown; those overdue at start go at once.
pub async fn run_delayed_events(services: Services, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    loop {
        let next = match services.send_due_delayed_events().await {
            Ok(next) => next,
            Err(err) => {
                tracing::warn!(%err, "delayed events pass failed");
                None
            }
        };
        let wait = next.map_or(MAX_SLEEP_MS, |due| due.saturating_sub(now_millis()).min(MAX_SLEEP_MS));
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_millis(wait)) => {}
            _ = services.delayed.wake.notified() => {}
            _ = shutdown.changed() => return,
        }
    }
}

fn random_id() -> String {
    use rand::Rng;
    rand::thread_rng()
        .sample_iter(&rand::distributions::Alphanumeric)
        .take(24)
        .map(char::from)
        .collect()
}
