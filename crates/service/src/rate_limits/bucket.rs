//! A leaky bucket per key, as Synapse counts: each key holds the actions taken since the
//! bucket last ran empty; they drain at the configured rate, and an action is allowed while
//! the bucket holds fewer than the burst. Refused actions add nothing, so a client that keeps
//! retrying early is not punished beyond the wait it was told.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use accord_core::config::BucketConfig;
use parking_lot::Mutex;

/// Keys are dropped once this many are held and their buckets have drained (an empty bucket
/// is the same as none), so address-keyed classes can't grow without bound.
const PRUNE_ABOVE: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Level {
    /// Actions counted since `since`.
    actions: f64,
    /// When the bucket last ran empty.
    since: Instant,
}

impl Level {
    /// Actions still in the bucket at `now`.
    fn held(&self, now: Instant, per_second: f64) -> f64 {
        self.actions - now.duration_since(self.since).as_secs_f64() * per_second
    }
}

/// The buckets of one class.
#[derive(Debug, Default)]
pub(super) struct Buckets {
    levels: Mutex<HashMap<String, Level>>,
}

impl Buckets {
    /// Takes `n` actions for `key` if the bucket has room for all of them; otherwise says how
    /// long until it has. With `update` false nothing is counted (a check before the action's
    /// outcome is known, such as registration before the account exists).
    pub(super) fn take(&self, key: &str, limit: BucketConfig, n: u32, update: bool) -> Result<(), Duration> {
        let now = Instant::now();
        let burst = f64::from(limit.burst_count);
        let n = f64::from(n);
        let mut levels = self.levels.lock();
        if levels.len() > PRUNE_ABOVE {
            levels.retain(|_, level| level.held(now, limit.per_second) > 0.0);
        }
        let current = levels.get(key).copied();
        let held = current.map_or(0.0, |level| level.held(now, limit.per_second));
        let level = match current {
            Some(level) if held > 0.0 => level,
            _ => Level {
                actions: 0.0,
                since: now,
            },
        };
        let held = held.max(0.0);
        if held + n > burst {
            let wait = (held + n - burst) / limit.per_second;
            return Err(Duration::from_secs_f64(wait.max(0.001)));
        }
        if update {
            levels.insert(
                key.to_owned(),
                Level {
                    actions: level.actions + n,
                    since: level.since,
                },
            );
        }
        Ok(())
    }

    /// Counts `n` actions for `key` without checking (a failed login, or a join that happened
    /// anyway because another server sent it).
    pub(super) fn record(&self, key: &str, limit: BucketConfig, n: u32) {
        let now = Instant::now();
        let mut levels = self.levels.lock();
        let level = levels.entry(key.to_owned()).or_insert(Level {
            actions: 0.0,
            since: now,
        });
        if level.held(now, limit.per_second) <= 0.0 {
            *level = Level {
                actions: 0.0,
                since: now,
            };
        }
        level.actions += f64::from(n);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const LIMIT: BucketConfig = BucketConfig {
        per_second: 1.0,
        burst_count: 3,
    };

    #[test]
    fn a_burst_is_allowed_then_the_rate_says_when() {
        let buckets = Buckets::default();
        for _ in 0..3 {
            assert!(buckets.take("a", LIMIT, 1, true).is_ok());
        }
        let wait = buckets.take("a", LIMIT, 1, true).unwrap_err();
        assert!(
            wait > Duration::from_millis(900) && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        assert!(buckets.take("b", LIMIT, 1, true).is_ok(), "keys are independent");
    }

    #[test]
    fn checks_without_update_count_nothing_and_records_do() {
        let buckets = Buckets::default();
        for _ in 0..10 {
            assert!(buckets.take("a", LIMIT, 1, false).is_ok());
        }
        buckets.record("a", LIMIT, 3);
        assert!(buckets.take("a", LIMIT, 1, false).is_err());
    }

    #[test]
    fn several_actions_are_refused_together() {
        let buckets = Buckets::default();
        assert!(buckets.take("a", LIMIT, 2, true).is_ok());
        assert!(buckets.take("a", LIMIT, 2, true).is_err());
        assert!(buckets.take("a", LIMIT, 1, true).is_ok());
    }

    #[test]
    fn the_bucket_drains_at_the_rate() {
        let fast = BucketConfig {
            per_second: 50.0,
            burst_count: 1,
        };
        let buckets = Buckets::default();
        assert!(buckets.take("a", fast, 1, true).is_ok());
        assert!(buckets.take("a", fast, 1, true).is_err());
        std::thread::sleep(Duration::from_millis(40));
        assert!(buckets.take("a", fast, 1, true).is_ok());
    }
}
