//! One destination's transactions: up to 50 PDUs and 100 EDUs each (the spec's limits), oldest
//! first, rows deleted only once the destination accepted.

use accord_federation::Federation;
use ruma::{
    MilliSecondsSinceUnixEpoch, OwnedEventId, OwnedTransactionId, ServerName,
    api::federation::transactions::send_transaction_message::v1 as send_transaction,
};

use crate::Services;

/// Most PDUs per transaction (spec).
pub(super) const MAX_PDUS_PER_TRANSACTION: usize = 50;
/// Most EDUs per transaction (spec).
const MAX_EDUS_PER_TRANSACTION: usize = 100;

/// Sends everything queued for `destination`, a transaction at a time. The error says why the
/// destination could not take it (for the log; the queue is untouched).
pub(super) async fn deliver_all(
    services: &Services,
    federation: &Federation,
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
        let mut request = send_transaction::Request::new(
            transaction_id(&rows, &durable),
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
fn transaction_id(pdus: &[(u64, OwnedEventId)], edus: &[(u64, serde_json::Value)]) -> OwnedTransactionId {
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
