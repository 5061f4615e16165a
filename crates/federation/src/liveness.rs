//! Destinations that showed they are back: they sent us an authenticated request, or a config
//! reload changed who we may talk to. The sender retries them at once instead of waiting out
//! its backoff.

use std::{
    collections::HashSet,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use parking_lot::Mutex;
use ruma::{OwnedServerName, ServerName};

use crate::Federation;

/// Servers seen alive since the sender last looked.
#[derive(Debug, Default, Clone)]
pub(crate) struct Liveness {
    revived: Arc<Mutex<HashSet<OwnedServerName>>>,
    everyone: Arc<AtomicBool>,
}

/// What the sender should stop backing off from.
#[derive(Debug, PartialEq, Eq)]
pub enum Revived {
    /// Every destination (the policy changed).
    All,
    /// These destinations.
    Servers(HashSet<OwnedServerName>),
}

impl Federation {
    /// Records that `server` just reached us, and wakes the sender if that is news.
    pub fn note_alive(&self, server: &ServerName) {
        let inserted = self.liveness.revived.lock().insert(server.to_owned());
        if inserted {
            self.edus.wake.notify_one();
        }
    }

    /// Marks every destination as worth retrying now (after a config reload).
    pub(crate) fn revive_all(&self) {
        self.liveness.everyone.store(true, Ordering::SeqCst);
        self.edus.wake.notify_one();
    }

    /// Takes what was seen alive since the last call.
    pub fn take_revived(&self) -> Revived {
        if self.liveness.everyone.swap(false, Ordering::SeqCst) {
            self.liveness.revived.lock().clear();
            return Revived::All;
        }
        Revived::Servers(std::mem::take(&mut *self.liveness.revived.lock()))
    }
}
