//! One destination's worker: delivers its queues, backs off when it can't, and catches up when
//! it comes back. Workers run side by side, so a partner that hangs (accepts a connection and
//! never answers) holds up nobody else.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use accord_db::DestinationBackoff;
use accord_federation::Federation;
use ruma::{OwnedServerName, ServerName};
use tokio::{sync::Notify, task::JoinHandle};

use super::{catch_up, transaction};
use crate::Services;

/// First retry delay after a failure; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// Longest wait between retries of an unreachable destination.
const MAX_BACKOFF: Duration = Duration::from_secs(10 * 60);

/// The handle the sender keeps for a destination's worker task.
pub(super) struct DestinationWorker {
    signals: Arc<Signals>,
    task: JoinHandle<()>,
}

/// How the sender reaches a worker.
#[derive(Default)]
struct Signals {
    /// Something was queued.
    wake: Notify,
    /// The destination showed it is back: retry now, whatever the backoff says.
    revived: AtomicBool,
}

impl DestinationWorker {
    /// Starts the worker for `destination`.
    pub(super) fn spawn(services: Services, federation: Federation, destination: OwnedServerName) -> Self {
        let signals = Arc::new(Signals::default());
        let task = tokio::spawn(run(services, federation, destination, signals.clone()));
        Self { signals, task }
    }

    /// Tells the worker something was queued.
    pub(super) fn wake(&self) {
        self.signals.wake.notify_one();
    }

    /// Ends the worker's backoff.
    pub(super) fn revive(&self) {
        self.signals.revived.store(true, Ordering::SeqCst);
        self.signals.wake.notify_one();
    }

    /// Stops the worker, abandoning a transaction in flight (its rows stay queued).
    pub(super) async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

async fn run(services: Services, federation: Federation, destination: OwnedServerName, signals: Arc<Signals>) {
    let db = services.db().clone();
    let mut backoff = db.get_destination_backoff(&destination).unwrap_or_else(|err| {
        tracing::warn!(%destination, %err, "cannot read the stored backoff; starting afresh");
        None
    });
    loop {
        if signals.revived.swap(false, Ordering::SeqCst) && backoff.take().is_some() {
            forget_backoff(&services, &destination);
            tracing::info!(%destination, "destination is back; retrying now");
        }
        if let Some(current) = backoff {
            let wait = current.retry_at_ms.saturating_sub(accord_core::time::now_millis());
            if wait > 0 {
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(wait)) => {}
                    () = signals.wake.notified() => {}
                }
                continue;
            }
            match catch_up::reduce_backlog(&db, &destination) {
                Ok(Some((before, after))) => tracing::info!(
                    %destination, before, after,
                    "catching up: sending the newest events of each room; the destination fetches the rest"
                ),
                Ok(None) => {}
                Err(err) => tracing::warn!(%destination, %err, "cannot reduce the backlog"),
            }
        }
        match transaction::deliver_all(&services, &federation, &destination).await {
            Ok(()) => {
                if backoff.take().is_some() {
                    forget_backoff(&services, &destination);
                    tracing::info!(%destination, "destination reachable again");
                }
                signals.wake.notified().await;
            }
            Err(reason) => {
                let next = next_backoff(backoff.as_ref());
                tracing::info!(
                    %destination, %reason, failures = next.failures, retry_in_ms = next.delay_ms,
                    "federation delivery failed"
                );
                if let Err(err) = db.put_destination_backoff(&destination, &next) {
                    tracing::warn!(%destination, %err, "cannot store the backoff");
                }
                backoff = Some(next);
            }
        }
    }
}

fn forget_backoff(services: &Services, destination: &ServerName) {
    if let Err(err) = services.db().delete_destination_backoff(destination) {
        tracing::warn!(%destination, %err, "cannot clear the stored backoff");
    }
}

/// The backoff after one more failure: 1 s, doubling to 10 min.
fn next_backoff(previous: Option<&DestinationBackoff>) -> DestinationBackoff {
    let first = u64::try_from(FIRST_BACKOFF.as_millis()).unwrap_or(u64::MAX);
    let max = u64::try_from(MAX_BACKOFF.as_millis()).unwrap_or(u64::MAX);
    let delay_ms = previous.map_or(first, |b| b.delay_ms.saturating_mul(2).min(max));
    DestinationBackoff {
        failures: previous.map_or(1, |b| b.failures.saturating_add(1)),
        delay_ms,
        retry_at_ms: accord_core::time::now_millis().saturating_add(delay_ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_ten_minutes() {
        let mut backoff = next_backoff(None);
        assert_eq!((backoff.failures, backoff.delay_ms), (1, 1000));
        backoff = next_backoff(Some(&backoff));
        assert_eq!((backoff.failures, backoff.delay_ms), (2, 2000));
        for _ in 0..20 {
            backoff = next_backoff(Some(&backoff));
        }
        assert_eq!(backoff.delay_ms, 600_000);
        assert!(backoff.retry_at_ms > accord_core::time::now_millis());
    }
}
