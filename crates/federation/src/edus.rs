//! Outbound ephemeral data units that may be lost (typing, presence, receipts): kept in memory
//! per destination until the sender's next transaction; losing them in a crash is harmless by
//! design. EDUs that must arrive go through the durable queue in `accord-db` instead.

use std::{collections::HashMap, sync::Arc};

use parking_lot::Mutex;
use ruma::{OwnedServerName, ServerName, api::federation::transactions::edu::Edu};
use serde_json::Value;
use tokio::sync::Notify;

use crate::Federation;

/// Most EDUs held per destination; older ones are dropped first.
const MAX_PENDING_EDUS: usize = 1000;

/// Pending EDUs and the sender's wake-up.
#[derive(Debug, Default, Clone)]
pub(crate) struct EduQueue {
    pending: Arc<Mutex<HashMap<OwnedServerName, Vec<Value>>>>,
    pub(crate) wake: Arc<Notify>,
}

impl Federation {
    /// Queues an EDU for `destination` and wakes the sender.
    pub fn queue_edu(&self, destination: &ServerName, edu: &Edu) {
        if !self.allows(destination) {
            return;
        }
        let edu = match serde_json::to_value(edu) {
            Ok(edu) => edu,
            Err(err) => {
                tracing::error!(%destination, %err, "an EDU failed to serialize; dropped");
                return;
            }
        };
        let mut pending = self.edus.pending.lock();
        let queue = pending.entry(destination.to_owned()).or_default();
        if queue.len() >= MAX_PENDING_EDUS {
            queue.remove(0);
        }
        queue.push(edu);
        drop(pending);
        self.edus.wake.notify_one();
    }

    /// Takes up to `max` pending EDUs for `destination`.
    pub fn take_edus(&self, destination: &ServerName, max: usize) -> Vec<Value> {
        let mut pending = self.edus.pending.lock();
        let Some(queue) = pending.get_mut(destination) else {
            return Vec::new();
        };
        let taken: Vec<Value> = queue.drain(..queue.len().min(max)).collect();
        if queue.is_empty() {
            pending.remove(destination);
        }
        taken
    }

    /// Destinations with pending EDUs.
    pub fn edu_destinations(&self) -> Vec<OwnedServerName> {
        self.edus.pending.lock().keys().cloned().collect()
    }

    /// Wakes the sender (something was queued in the durable queues).
    pub fn wake_sender(&self) {
        self.edus.wake.notify_one();
    }

    /// Resolves when an EDU is queued.
    pub async fn edu_queued(&self) {
        self.edus.wake.notified().await;
    }
}
