//! When to sweep expired rows that nothing else deletes (logins abandoned at a provider or on
//! Accord's pages): at most once a minute, so a flood of started logins costs a scan a minute,
//! not a scan each.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use parking_lot::Mutex;

/// The least time between two sweeps.
const INTERVAL: Duration = Duration::from_secs(60);

/// The time of the last sweep. Cheap to clone; clones share it.
#[derive(Debug, Clone, Default)]
pub(crate) struct SweepClock(Arc<Mutex<Option<Instant>>>);

impl SweepClock {
    /// Whether a sweep is due now (and, if so, records it as done).
    pub(crate) fn due(&self) -> bool {
        let mut last = self.0.lock();
        if last.is_some_and(|at| at.elapsed() < INTERVAL) {
            return false;
        }
        *last = Some(Instant::now());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_once_a_minute() {
        let clock = SweepClock::default();
        assert!(clock.due());
        assert!(!clock.due());
        assert!(!clock.clone().due(), "clones share the clock");
    }
}
