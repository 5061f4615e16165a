//! Inbound federation transactions (`PUT /send/{txnId}`) as one use case: the origin's
//! limits, deduplication per (origin, txn id), PDUs grouped by room (rooms in parallel, in
//! order within a room, one fsync for all before the answer), then the EDUs. Each PDU's
//! outcome goes back to the origin with a sanitized reason: what was wrong with the event,
//! never our storage's error text.

use std::collections::BTreeMap;

use accord_room::PendingWrites;
use ruma::{
    CanonicalJsonObject, CanonicalJsonValue, OwnedEventId, OwnedRoomId, OwnedServerName, OwnedTransactionId,
    api::federation::transactions::edu::Edu, serde::Raw,
};
use serde_json::value::RawValue;

use crate::{Error, Result, Services};

/// The spec's transaction limits.
const MAX_PDUS: usize = 50;
const MAX_EDUS: usize = 100;

/// Per-PDU outcomes of a transaction, as the origin gets them.
pub type TransactionResults = BTreeMap<OwnedEventId, std::result::Result<(), String>>;

/// One inbound transaction, as the handler extracted it.
#[derive(Debug)]
pub struct InboundTransaction<'a> {
    /// The authenticated sending server.
    pub origin: OwnedServerName,
    /// The `origin` the body claims.
    pub claimed_origin: &'a ruma::ServerName,
    /// The sender's transaction id.
    pub txn_id: OwnedTransactionId,
    /// The PDUs, unparsed.
    pub pdus: &'a [Box<RawValue>],
    /// The EDUs, unparsed.
    pub edus: &'a [Raw<Edu>],
}

impl Services {
    /// Applies a transaction and says what became of each PDU. A repeated transaction gets its
    /// first answer again, without applying anything twice.
    pub async fn receive_transaction(&self, txn: InboundTransaction<'_>) -> Result<TransactionResults> {
        if txn.claimed_origin != txn.origin {
            return Err(Error::forbidden(
                "The transaction's origin is not the authenticated server",
            ));
        }
        if txn.pdus.len() > MAX_PDUS || txn.edus.len() > MAX_EDUS {
            return Err(Error::bad_json(format!(
                "At most {MAX_PDUS} PDUs and {MAX_EDUS} EDUs per transaction"
            )));
        }
        let federation = self.federation_enabled()?;
        if let Some(results) = federation.answered_transaction(&txn.origin, &txn.txn_id) {
            return Ok(results);
        }
        let results = self.receive_pdus(&txn.origin, txn.pdus).await?;
        for edu in txn.edus {
            self.receive_edu(&txn.origin, edu)?;
        }
        federation.remember_transaction(txn.origin, txn.txn_id, results.clone());
        Ok(results)
    }

    /// The PDUs grouped by room, rooms in parallel and each in order; one fsync for all of them
    /// before the answer (an fsync failure fails the transaction, which the origin retries).
    async fn receive_pdus(&self, origin: &OwnedServerName, pdus: &[Box<RawValue>]) -> Result<TransactionResults> {
        let pending = PendingWrites::default();
        let per_room = self.group_by_room(pdus).into_iter().map(|(room_id, pdus)| {
            let pending = &pending;
            async move {
                let mut results = Vec::with_capacity(pdus.len());
                for (event_id, object) in pdus {
                    let outcome = self
                        .receive_pdu_into(origin, &room_id, object, pending)
                        .await
                        .map(drop)
                        .map_err(|err| sanitized(&err));
                    if let Err(reason) = &outcome {
                        tracing::info!(%origin, %event_id, %reason, "PDU refused");
                    }
                    results.push((event_id, outcome));
                }
                results
            }
        });
        let results: TransactionResults = futures::future::join_all(per_room)
            .await
            .into_iter()
            .flatten()
            .collect();
        self.rooms.rooms().make_durable(pending).await?;
        Ok(results)
    }

    /// PDUs by room, in order of arrival within each; PDUs for rooms this server is not in are
    /// dropped (their ids can't even be computed without the room version).
    fn group_by_room(&self, pdus: &[Box<RawValue>]) -> Vec<(OwnedRoomId, Vec<(OwnedEventId, CanonicalJsonObject)>)> {
        let rooms = self.rooms.rooms();
        let mut by_room: Vec<(OwnedRoomId, Vec<(OwnedEventId, CanonicalJsonObject)>)> = Vec::new();
        for raw in pdus {
            let Ok(object) = serde_json::from_str::<CanonicalJsonObject>(raw.get()) else {
                continue;
            };
            let Some(room_id) = object
                .get("room_id")
                .and_then(CanonicalJsonValue::as_str)
                .and_then(|r| OwnedRoomId::try_from(r).ok())
            else {
                continue;
            };
            let Ok(version) = rooms.room_version(&room_id) else {
                continue;
            };
            let Some(rules) = version.rules() else { continue };
            let Ok(event_id) = accord_room::event_id_of(&object, &rules) else {
                continue;
            };
            match by_room.iter_mut().find(|(room, _)| *room == room_id) {
                Some((_, pdus)) => pdus.push((event_id, object)),
                None => by_room.push((room_id, vec![(event_id, object)])),
            }
        }
        by_room
    }

    /// One EDU, dispatched on its type (ruma's typed EDUs). Unknown types are ignored (spec),
    /// and so is an EDU that doesn't match its type's schema. Only to-device messages can fail
    /// the transaction: they are acknowledged once stored, and the origin retries (duplicates
    /// are dropped by message id).
    fn receive_edu(&self, origin: &OwnedServerName, edu: &Raw<Edu>) -> Result<()> {
        let edu = match edu.deserialize() {
            Ok(edu) => edu,
            Err(err) => {
                tracing::info!(%origin, %err, "malformed EDU ignored");
                return Ok(());
            }
        };
        match edu {
            Edu::Typing(content) => self.receive_typing_edu(origin, &content),
            Edu::Receipt(content) => self.receive_receipt_edu(origin, &content),
            Edu::Presence(content) => self.receive_presence_edu(origin, &content),
            Edu::DeviceListUpdate(content) => self.receive_device_list_update(origin, &content),
            Edu::SigningKeyUpdate(content) => self.receive_signing_key_update(origin, &content),
            Edu::DirectToDevice(content) => self.receive_to_device_edu(origin, &content)?,
            _ => {}
        }
        Ok(())
    }
}

/// What the origin is told about a refused PDU: the reason when it is about the event (its
/// format, signatures, authorization), a generic line when it is our own failure.
fn sanitized(err: &Error) -> String {
    match err {
        Error::Request { message, .. } | Error::Conflict(message) => message.clone(),
        Error::Db(_) | Error::Internal(_) | Error::Uiaa(_) => {
            tracing::error!(%err, "internal error while receiving a PDU");
            "internal error while processing the event".to_owned()
        }
    }
}
