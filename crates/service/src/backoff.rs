//! Retry schedules of outbound deliveries (push gateways, application services): per key
//! (a pusher, a service), the delay doubles from a first delay up to a cap after each failure
//! and is forgotten at the first success. In memory: a restart tries everything at once.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

/// When one key may be tried again.
#[derive(Debug, Clone, Copy)]
struct Backoff {
    next_try: Instant,
    delay: Duration,
}

/// The schedules of one kind of delivery. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Backoffs {
    first: Duration,
    max: Duration,
    keys: Arc<parking_lot::Mutex<HashMap<String, Backoff>>>,
}

impl Backoffs {
    /// Schedules whose delay starts at `first` and doubles up to `max`.
    pub(crate) fn new(first: Duration, max: Duration) -> Self {
        Self {
            first,
            max,
            keys: Arc::default(),
        }
    }

    /// Whether `key` failed and its next try is still to come.
    pub(crate) fn waiting(&self, key: &str) -> bool {
        self.keys
            .lock()
            .get(key)
            .is_some_and(|backoff| backoff.next_try > Instant::now())
    }

    /// Records a failure of `key`; returns how long it now waits.
    pub(crate) fn failed(&self, key: &str) -> Duration {
        let mut keys = self.keys.lock();
        let delay = keys
            .get(key)
            .map_or(self.first, |previous| (previous.delay * 2).min(self.max));
        keys.insert(
            key.to_owned(),
            Backoff {
                next_try: Instant::now() + delay,
                delay,
            },
        );
        delay
    }

    /// Records a success of `key`; whether it had been failing.
    pub(crate) fn succeeded(&self, key: &str) -> bool {
        self.keys.lock().remove(key).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_doubles_to_the_cap_and_a_success_forgets_it() {
        let backoffs = Backoffs::new(Duration::from_secs(2), Duration::from_secs(5));
        assert!(!backoffs.waiting("a"));
        assert_eq!(backoffs.failed("a"), Duration::from_secs(2));
        assert!(backoffs.waiting("a"));
        assert!(!backoffs.waiting("b"));
        assert_eq!(backoffs.failed("a"), Duration::from_secs(4));
        assert_eq!(backoffs.failed("a"), Duration::from_secs(5));
        assert!(backoffs.succeeded("a"));
        assert!(!backoffs.succeeded("a"));
        assert_eq!(backoffs.failed("a"), Duration::from_secs(2));
    }
}
