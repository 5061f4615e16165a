//! The federation sender: delivers the durable per-destination queue in transactions of up to
//! 50 PDUs, oldest first, with exponential backoff per destination. Survives restarts of either
//! side: rows leave the queue only once the destination accepted the transaction. A destination
//! that sends us a request, or a config reload, ends its backoff at once.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use ruma::{
    MilliSecondsSinceUnixEpoch, OwnedServerName, OwnedTransactionId, ServerName,
    api::federation::transactions::send_transaction_message::v1 as send_transaction,
};
use tokio::sync::watch;

use crate::Services;

/// Most PDUs per transaction (spec).
const MAX_PDUS_PER_TRANSACTION: usize = 50;
/// Most EDUs per transaction (spec).
const MAX_EDUS_PER_TRANSACTION: usize = 100;
/// First retry delay after a failure; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// Longest wait between retries of an unreachable destination.
const MAX_BACKOFF: Duration = Duration::from_secs(10 * 60);
/// How often the queue is looked at when nothing wakes the sender.
const IDLE_POLL: Duration = Duration::from_secs(5);

/// Runs until `stop` turns true.
pub async fn run_sender(services: Services, mut stop: watch::Receiver<bool>) {
    let Some(federation) = services.federation.clone() else {
        return;
    };
    let mut queued = services.rooms.rooms().outbound_queued();
    let mut backoff: HashMap<OwnedServerName, (Instant, Duration)> = HashMap::new();
    loop {
        match federation.take_revived() {
            accord_federation::Revived::All => backoff.clear(),
            accord_federation::Revived::Servers(servers) => backoff.retain(|server, _| !servers.contains(server)),
        }
        let mut destinations = match services.db().queued_destinations() {
            Ok(destinations) => destinations,
            Err(err) => {
                tracing::error!(%err, "cannot read the outbound queue");
                Vec::new()
            }
        };
        match services.db().durable_edu_destinations() {
            Ok(with_edus) => {
                for destination in with_edus {
                    if !destinations.contains(&destination) {
                        destinations.push(destination);
                    }
                }
            }
            Err(err) => tracing::error!(%err, "cannot read the outbound EDU queue"),
        }
        for destination in federation.edu_destinations() {
            if !destinations.contains(&destination) {
                destinations.push(destination);
            }
        }
        for destination in destinations {
            if backoff
                .get(&destination)
                .is_some_and(|(retry_at, _)| *retry_at > Instant::now())
            {
                continue;
            }
            match deliver(&services, &federation, &destination).await {
                Ok(()) => {
                    backoff.remove(&destination);
                }
                Err(reason) => {
                    let delay = backoff
                        .get(&destination)
                        .map_or(FIRST_BACKOFF, |(_, d)| (*d * 2).min(MAX_BACKOFF));
                    tracing::info!(%destination, %reason, retry_in = ?delay, "federation delivery failed");
                    backoff.insert(destination, (Instant::now() + delay, delay));
                }
            }
        }
        let next_retry = backoff.values().map(|(at, _)| *at).min();
        let wait = next_retry.map_or(IDLE_POLL, |at| {
            at.saturating_duration_since(Instant::now()).min(IDLE_POLL)
        });
        tokio::select! {
            _ = queued.changed() => {}
            () = federation.edu_queued() => {}
            () = tokio::time::sleep(wait) => {}
            _ = stop.wait_for(|stop| *stop) => return,
        }
    }
}

/// Sends everything queued for `destination`, a transaction at a time.
async fn deliver(
    services: &Services,
    federation: &accord_federation::Federation,
    destination: &ServerName,
) -> Result<(), String> {
    let db = services.db();
    loop {
        let rows = db
            .queued_for(destination, MAX_PDUS_PER_TRANSACTION)
            .map_err(|e| e.to_string())?;
        let durable = db
            .durable_edus_for(destination, MAX_EDUS_PER_TRANSACTION)
            .map_err(|e| e.to_string())?;
        let edus = federation.take_edus(destination, MAX_EDUS_PER_TRANSACTION - durable.len());
        if rows.is_empty() && edus.is_empty() && durable.is_empty() {
            return Ok(());
        }
        let mut pdus = Vec::with_capacity(rows.len());
        for (_, event_id) in &rows {
            let json = db
                .get_short_event_id(event_id)
                .ok()
                .flatten()
                .and_then(|short| db.get_pdu_json(short).ok().flatten());
            if let Some(json) = json {
                pdus.push(serde_json::value::to_raw_value(&json).map_err(|e| e.to_string())?);
            }
        }
        let txn = transaction_id(&rows, &durable);
        let mut request = send_transaction::Request::new(
            txn,
            services.config.server_name.clone(),
            MilliSecondsSinceUnixEpoch::now(),
        );
        request.pdus = pdus;
        request.edus = durable
            .iter()
            .map(|(_, edu)| edu)
            .chain(edus.iter())
            .filter_map(|edu| serde_json::value::to_raw_value(edu).ok())
            .map(ruma::serde::Raw::from_json)
            .collect();
        let response = federation
            .client()
            .send(destination, request)
            .await
            .map_err(|e| e.to_string())?;
        for (event_id, result) in &response.pdus {
            if let Err(reason) = result {
                tracing::warn!(%destination, %event_id, %reason, "destination refused an event");
            }
        }
        let counts: Vec<u64> = rows.iter().map(|(count, _)| *count).collect();
        db.dequeue(destination, &counts).map_err(|e| e.to_string())?;
        let positions: Vec<u64> = durable.iter().map(|(position, _)| *position).collect();
        db.dequeue_durable_edus(destination, &positions)
            .map_err(|e| e.to_string())?;
    }
}

/// The id names the durable queue ranges a transaction carries, so a retry after a crash is
/// the same transaction; one with only in-memory EDUs gets a time-based id.
fn transaction_id(pdus: &[(u64, ruma::OwnedEventId)], edus: &[(u64, serde_json::Value)]) -> OwnedTransactionId {
    let range = |first: Option<u64>, last: Option<u64>| match (first, last) {
        (Some(first), Some(last)) => format!("{first}-{last}"),
        _ => "none".to_owned(),
    };
    if pdus.is_empty() && edus.is_empty() {
        return OwnedTransactionId::from(format!("edu-{}", accord_core::time::now_millis()));
    }
    let pdu_range = range(pdus.first().map(|r| r.0), pdus.last().map(|r| r.0));
    if edus.is_empty() {
        // Unchanged from the PDU-only format, so transactions queued before an upgrade keep their ids.
        return OwnedTransactionId::from(pdu_range);
    }
    let edu_range = range(edus.first().map(|r| r.0), edus.last().map(|r| r.0));
    OwnedTransactionId::from(format!("{pdu_range}.e{edu_range}"))
}
