//! Requests from other servers (`rate_limits.federation`), counted per origin as Synapse's
//! `rc_federation`: past `sleep_limit` requests in a window each waits `sleep_delay_ms`; at most
//! `concurrent` run at once and the rest queue in order; past `reject_limit` waiting ones the
//! origin gets 429. A busy partner is slowed down, not cut off, and one server can't take every
//! worker from the others.

use std::{
    collections::{HashMap, VecDeque},
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::{Duration, Instant},
};

use accord_core::config::FederationLimitConfig;
use parking_lot::Mutex;
use ruma::{
    OwnedServerName, ServerName,
    api::error::{ErrorKind, LimitExceededErrorData, RetryAfter},
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::{Error, Result};

#[derive(Debug)]
struct Origin {
    /// When the requests of the current window arrived.
    recent: VecDeque<Instant>,
    /// Requests admitted but not yet running (sleeping or queued).
    waiting: Arc<AtomicU32>,
    /// Running requests.
    running: Arc<Semaphore>,
}

/// The per-origin state of every server that sent requests.
#[derive(Clone, Debug)]
pub struct FederationLimiter {
    config: FederationLimitConfig,
    origins: Arc<Mutex<HashMap<OwnedServerName, Origin>>>,
}

/// Held while a request of another server runs; dropping it lets the next one start.
#[derive(Debug)]
pub struct FederationPermit {
    _running: OwnedSemaphorePermit,
}

/// Decrements the waiting count however the wait ends (done, or the request dropped).
struct Waiting(Arc<AtomicU32>);

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl FederationLimiter {
    pub(super) fn new(config: FederationLimitConfig) -> Self {
        Self {
            config,
            origins: Arc::default(),
        }
    }

    /// Waits for `origin`'s turn; 429 `M_LIMIT_EXCEEDED` when too many of its requests wait.
    pub async fn admit(&self, origin: &ServerName) -> Result<FederationPermit> {
        let window = Duration::from_millis(self.config.window_ms);
        let (sleep, waiting, running) = {
            let now = Instant::now();
            let mut origins = self.origins.lock();
            let state = origins.entry(origin.to_owned()).or_insert_with(|| Origin {
                recent: VecDeque::new(),
                waiting: Arc::default(),
                running: Arc::new(Semaphore::new(self.config.concurrent as usize)),
            });
            while state.recent.front().is_some_and(|at| now.duration_since(*at) > window) {
                state.recent.pop_front();
            }
            if state.waiting.load(Ordering::Acquire) >= self.config.reject_limit {
                let wait = window / self.config.sleep_limit.max(1);
                let mut data = LimitExceededErrorData::new();
                data.retry_after = Some(RetryAfter::Delay(wait));
                tracing::warn!(%origin, "federation requests refused: rate_limits.federation.reject_limit reached");
                return Err(Error::new(
                    ErrorKind::LimitExceeded(data),
                    format!(
                        "Too many requests from {origin} waiting (rate_limits.federation.reject_limit = {})",
                        self.config.reject_limit
                    ),
                ));
            }
            state.recent.push_back(now);
            state.waiting.fetch_add(1, Ordering::AcqRel);
            let sleep = state.recent.len() > self.config.sleep_limit as usize;
            (sleep, Waiting(state.waiting.clone()), state.running.clone())
        };
        if sleep {
            tokio::time::sleep(Duration::from_millis(self.config.sleep_delay_ms)).await;
        }
        let permit = running
            .acquire_owned()
            .await
            .map_err(|_| Error::Internal("federation limiter closed".to_owned()))?;
        drop(waiting);
        Ok(FederationPermit { _running: permit })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use ruma::server_name;

    use super::*;

    fn limiter(concurrent: u32, reject_limit: u32) -> FederationLimiter {
        FederationLimiter::new(FederationLimitConfig {
            window_ms: 1000,
            sleep_limit: 100,
            sleep_delay_ms: 0,
            reject_limit,
            concurrent,
        })
    }

    #[tokio::test]
    async fn past_the_concurrency_requests_queue_and_past_the_reject_limit_they_are_refused() {
        let limiter = limiter(1, 1);
        let origin = server_name!("partner.example");
        let first = limiter.admit(origin).await.unwrap();
        let queued = {
            let limiter = limiter.clone();
            tokio::spawn(async move { limiter.admit(server_name!("partner.example")).await.map(|_| ()) })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!queued.is_finished(), "the second waits for the first");
        let refused = limiter.admit(origin).await.unwrap_err();
        assert!(
            matches!(refused.kind(), Some(ErrorKind::LimitExceeded(_))),
            "{refused:?}"
        );
        assert!(
            limiter.admit(server_name!("other.example")).await.is_ok(),
            "origins are independent"
        );
        drop(first);
        assert!(queued.await.unwrap().is_ok());
    }

    #[tokio::test]
    async fn past_the_sleep_limit_requests_wait() {
        let limiter = FederationLimiter::new(FederationLimitConfig {
            window_ms: 10_000,
            sleep_limit: 2,
            sleep_delay_ms: 200,
            reject_limit: 10,
            concurrent: 10,
        });
        let origin = server_name!("partner.example");
        let start = Instant::now();
        for _ in 0..2 {
            drop(limiter.admit(origin).await.unwrap());
        }
        assert!(start.elapsed() < Duration::from_millis(150));
        drop(limiter.admit(origin).await.unwrap());
        assert!(start.elapsed() >= Duration::from_millis(200));
    }
}
