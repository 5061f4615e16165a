//! The federation sender: delivers the durable per-destination queues (PDUs, and EDUs that
//! must arrive) and the in-memory EDUs (typing, receipts, presence) in transactions.
//!
//! Each destination has its own worker task ([`destination`]), so a partner that accepts a
//! connection and never answers holds up only its own queue, never another partner's. This
//! task only finds destinations with work, starts their workers and wakes them. Rows leave a
//! queue only once the destination accepted the transaction carrying them, so deliveries
//! survive restarts of either side; backoff survives them too (`servername_backoff`).

mod catch_up;
mod destination;
mod transaction;

use std::{collections::HashMap, time::Duration};

use accord_federation::{Federation, Revived};
use ruma::OwnedServerName;
use tokio::sync::watch;

use crate::Services;
use destination::DestinationWorker;

/// How often the queues are looked at when nothing wakes the sender.
const IDLE_POLL: Duration = Duration::from_secs(5);

/// Runs until `stop` turns true; then stops every destination's worker (an in-flight
/// transaction is simply sent again after the restart: its id names the same queue range).
pub async fn run_sender(services: Services, mut stop: watch::Receiver<bool>) {
    let Some(federation) = services.federation.clone() else {
        return;
    };
    let mut queued = services.rooms.rooms().outbound_queued();
    let mut workers: HashMap<OwnedServerName, DestinationWorker> = HashMap::new();
    loop {
        let revived = federation.take_revived();
        apply_revived(&services, &workers, &revived);
        for destination in destinations_with_work(&services, &federation) {
            workers
                .entry(destination.clone())
                .or_insert_with(|| DestinationWorker::spawn(services.clone(), federation.clone(), destination))
                .wake();
        }
        tokio::select! {
            _ = queued.changed() => {}
            () = federation.edu_queued() => {}
            () = tokio::time::sleep(IDLE_POLL) => {}
            _ = stop.wait_for(|stop| *stop) => break,
        }
    }
    for worker in workers.into_values() {
        worker.stop().await;
    }
}

/// Ends the backoff of destinations that showed they are back (they reached us, or a config
/// reload changed who we may talk to). A running worker clears its own, in memory and on disk;
/// for the others only a stored row is deleted, so a partner's every request costs a read,
/// not a write.
fn apply_revived(services: &Services, workers: &HashMap<OwnedServerName, DestinationWorker>, revived: &Revived) {
    let db = services.db();
    let cleared = match revived {
        Revived::All => db.clear_destination_backoffs(),
        Revived::Servers(servers) => servers
            .iter()
            .filter(|server| !workers.contains_key(*server))
            .try_for_each(|server| match db.get_destination_backoff(server)? {
                Some(_) => db.delete_destination_backoff(server),
                None => Ok(()),
            }),
    };
    if let Err(err) = cleared {
        tracing::warn!(%err, "cannot clear the stored federation backoff");
    }
    for (server, worker) in workers {
        if matches!(revived, Revived::All) || matches!(revived, Revived::Servers(s) if s.contains(server)) {
            worker.revive();
        }
    }
}

/// Destinations with queued PDUs, durable EDUs or in-memory EDUs.
fn destinations_with_work(services: &Services, federation: &Federation) -> Vec<OwnedServerName> {
    let mut destinations = services.db().queued_destinations().unwrap_or_else(|err| {
        tracing::error!(%err, "cannot read the outbound queue");
        Vec::new()
    });
    let durable = services.db().durable_edu_destinations().unwrap_or_else(|err| {
        tracing::error!(%err, "cannot read the outbound EDU queue");
        Vec::new()
    });
    for destination in durable.into_iter().chain(federation.edu_destinations()) {
        if !destinations.contains(&destination) {
            destinations.push(destination);
        }
    }
    destinations
}
