//! Push notifications (spec: "Push notifications"): pushers set by clients, the notifier that
//! follows every room's timeline and records, for each local member, the events their push
//! rules say notify, `/notifications` over those records, and delivery of each record to the
//! user's HTTP pushers at their push gateways.
//!
//! One background task does both halves, woken when events arrive and once a second: the
//! notifier writes its records and its position in one batch (so a crash repeats or loses
//! none), then each pusher sends what it has not delivered, in order, backing off while its
//! gateway fails.

mod badges;
mod delivery;
mod listing;
mod notifier;
mod pushers;

use std::{sync::Arc, time::Duration};

use accord_federation::{AddressGuard, WebFetcher};

pub use listing::NotificationsPage;
pub use pushers::{PusherChange, PusherDeletion};

use crate::{Error, Result, Services};

/// Largest answer read from a push gateway.
const MAX_GATEWAY_ANSWER: usize = 64 * 1024;

/// How often the task looks for work without being woken.
const TICK: Duration = Duration::from_secs(1);

/// The push machinery's state. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Push {
    /// Guarded HTTP to push gateways.
    fetcher: WebFetcher,
    /// Rung when events arrive or a pusher is set.
    wake: Arc<tokio::sync::Notify>,
    /// Pushers whose gateway is failing: when to try again.
    backoff: crate::backoff::Backoffs,
    /// One notifier pass at a time.
    notifying: Arc<tokio::sync::Mutex<()>>,
    /// Badge-only updates when users read.
    badges: badges::Badges,
}

impl Push {
    pub(crate) fn new(config: &accord_core::Config) -> Result<Self> {
        let push = &config.push;
        let guard = AddressGuard::new(&push.ip_range_denylist, &push.ip_range_allowlist)
            .map_err(|err| Error::Internal(format!("push.ip_range_*: {err}")))?;
        let fetcher = WebFetcher::for_purpose(
            "push",
            guard,
            config.federation.tls_ca_file.as_deref(),
            Duration::from_secs(push.timeout_secs.max(1)),
            MAX_GATEWAY_ANSWER,
        )
        .map_err(|err| Error::Internal(format!("push can't start: {err}")))?;
        Ok(Self {
            fetcher,
            wake: Arc::default(),
            backoff: crate::backoff::Backoffs::new(delivery::FIRST_DELAY, delivery::MAX_DELAY),
            notifying: Arc::default(),
            badges: badges::Badges::default(),
        })
    }

    /// Asks the push task to look for new events now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// A read receipt of `user_id` moved: their badge may have dropped, which their pushers
    /// are told on the next pass.
    pub fn read_receipt_moved(&self, user_id: &ruma::UserId) {
        self.badges.mark_changed(user_id);
        self.wake.notify_one();
    }
}

/// Records notifications and delivers them until shutdown.
pub async fn run_push(services: Services, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    loop {
        if let Err(err) = services.notify_new_events().await {
            tracing::warn!(%err, "push notifier pass failed");
        }
        services.deliver_pushes().await;
        tokio::select! {
            _ = services.push.wake.notified() => {}
            _ = tokio::time::sleep(TICK) => {}
            _ = shutdown.changed() => return,
        }
    }
}
