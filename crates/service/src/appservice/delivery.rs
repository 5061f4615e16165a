//! Delivery: one task follows the global stream for every service, records each service's
//! next transaction durably (with the progress it covers, in one batch), then sends it until
//! the service accepts it, backing off while the service fails: 2 s doubling to 512 s, as
//! Synapse does. A transaction is never rebuilt: a retry, even after a restart, sends the same
//! id and body, so the service can drop a repeat by its id. Unlike Synapse, nothing is dropped
//! while a service is down: its receipts stay in the stream and its to-device messages in its
//! queue until a transaction carries them.

use std::{sync::Arc, time::Duration};

use accord_core::appservice::Registration;
use accord_db::{AppserviceProgress, WriteBatch, rooms::STREAM_STEP};
use accord_federation::AppserviceError;

use crate::{Result, Services};

/// How often the task looks for work without being woken.
const TICK: Duration = Duration::from_secs(1);

/// The first retry delay after a failure.
pub(super) const FIRST_DELAY: Duration = Duration::from_secs(2);

/// The longest retry delay.
pub(super) const MAX_DELAY: Duration = Duration::from_secs(512);

/// Transactions sent to one service per pass, so one busy service can't starve the others.
const TRANSACTIONS_PER_PASS: usize = 20;

/// How many stream positions a service's position may move without a transaction before it
/// is written anyway (bounds what a restart reads again).
const PERSIST_EVERY: u64 = 10_000;

/// Delivers transactions until shutdown.
pub async fn run_appservice_delivery(services: Services, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let mut stream = services.db().subscribe_stream();
    loop {
        services.deliver_appservice_transactions().await;
        tokio::select! {
            _ = services.appservices.wake.notified() => {}
            _ = stream.changed() => {}
            _ = tokio::time::sleep(TICK) => {}
            _ = shutdown.changed() => return,
        }
    }
}

impl Services {
    /// One pass over every registered service.
    pub(crate) async fn deliver_appservice_transactions(&self) {
        let _pass = self.appservices.delivering.lock().await;
        let registry = self.appservices.registry.snapshot();
        for registration in &registry.list {
            if self.appservices.backoff.waiting(&registration.id) {
                continue;
            }
            if let Err(err) = self.deliver_to_appservice(registration).await {
                tracing::warn!(appservice = %registration.id, %err, "application service delivery failed");
            }
        }
    }

    async fn deliver_to_appservice(&self, registration: &Arc<Registration>) -> Result<()> {
        for _ in 0..TRANSACTIONS_PER_PASS {
            let pending = match self.db().pending_appservice_txn(&registration.id)? {
                Some(pending) => pending,
                None => {
                    let this = self.clone();
                    let reg = registration.clone();
                    let built = tokio::task::spawn_blocking(move || this.record_next_appservice_txn(&reg)).await??;
                    match built {
                        Some((pending, unknown_users)) => {
                            // Bridges create their users lazily: ask about the ones this
                            // transaction names before it tells the service about them.
                            for user in unknown_users {
                                self.query_appservice_user(registration, &user).await;
                            }
                            pending
                        }
                        None => return Ok(()),
                    }
                }
            };
            let Some(url) = &registration.url else {
                // `url: null`: the service wants no traffic; its transactions are consumed.
                self.accept_appservice_txn(registration)?;
                continue;
            };
            let body = serde_json::to_vec(&pending.body)
                .map_err(|err| crate::Error::Internal(format!("transaction not serializable: {err}")))?;
            match self
                .appservices
                .client
                .put_transaction(url, &registration.hs_token, pending.txn_id, body)
                .await
            {
                Ok(()) => {
                    self.accept_appservice_txn(registration)?;
                    let (events, ephemeral, to_device) = pending.sizes;
                    tracing::debug!(appservice = %registration.id, txn_id = pending.txn_id, events, ephemeral, to_device, "transaction delivered");
                }
                Err(err) => {
                    self.appservice_failed(registration, pending.txn_id, &err);
                    return Ok(());
                }
            }
        }
        // More may be waiting: look again without waiting for a wake-up.
        self.appservices.wake.notify_one();
        Ok(())
    }

    /// Builds the next transaction and records it with its progress in one batch; `None`
    /// when there is nothing to send.
    ///
    /// A position that moved without a transaction is kept in memory and written only every
    /// [`PERSIST_EVERY`] stream positions: after a restart the service's stream is read again
    /// from the last written position, where nothing concerned it (a membership that would
    /// have made a room interesting is itself an event it gets), so nothing is sent twice, and
    /// a busy server doesn't write a position per service per event.
    fn record_next_appservice_txn(
        &self,
        registration: &Registration,
    ) -> Result<Option<(accord_db::PendingTransaction, Vec<ruma::OwnedUserId>)>> {
        let db = self.db();
        let remembered = self.appservices.progress.lock().get(&registration.id).copied();
        let (progress, persisted) = match remembered {
            Some(known) => known,
            None => match db.appservice_progress(&registration.id)? {
                Some(stored) => (stored, stored.stream),
                None => {
                    // A service registered now hears of what happens from now on.
                    let start = AppserviceProgress {
                        stream: db.visible_count(),
                        next_txn_id: 1,
                    };
                    let mut batch = WriteBatch::new();
                    db.put_appservice_progress(&mut batch, &registration.id, &start);
                    db.write(batch)?;
                    self.appservices
                        .progress
                        .lock()
                        .insert(registration.id.clone(), (start, start.stream));
                    return Ok(None);
                }
            },
        };
        let built = self.build_appservice_txn(registration, progress)?;
        let far_ahead = built.progress.stream.saturating_sub(persisted) >= PERSIST_EVERY * STREAM_STEP;
        let persisted = if built.transaction.is_some() || far_ahead {
            let mut batch = WriteBatch::new();
            db.put_appservice_progress(&mut batch, &registration.id, &built.progress);
            if let Some(transaction) = &built.transaction {
                db.put_pending_appservice_txn(&mut batch, &registration.id, transaction);
            }
            for key in &built.to_device_keys {
                db.delete_appservice_to_device(&mut batch, key);
            }
            db.write(batch)?;
            built.progress.stream
        } else {
            persisted
        };
        self.appservices
            .progress
            .lock()
            .insert(registration.id.clone(), (built.progress, persisted));
        Ok(built.transaction.map(|txn| (txn, built.unknown_users)))
    }

    fn accept_appservice_txn(&self, registration: &Registration) -> Result<()> {
        let mut batch = WriteBatch::new();
        self.db().delete_pending_appservice_txn(&mut batch, &registration.id);
        self.db().write(batch)?;
        if self.appservices.backoff.succeeded(&registration.id) {
            tracing::info!(appservice = %registration.id, "application service is reachable again");
        }
        Ok(())
    }

    fn appservice_failed(&self, registration: &Registration, txn_id: u64, err: &AppserviceError) {
        let delay = self.appservices.backoff.failed(&registration.id);
        tracing::warn!(
            appservice = %registration.id,
            txn_id,
            retry_in_secs = delay.as_secs(),
            %err,
            "application service did not accept a transaction; it will be sent again"
        );
    }
}
