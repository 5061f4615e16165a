//! `PUT /_matrix/federation/v1/send/{txnId}`: PDUs from another server, each checked on its
//! own (one bad PDU never fails the transaction); rooms in parallel, in order within a room. A
//! repeated transaction id gets the first answer again.

use accord_federation::TransactionResults;
use accord_service::{Error, Services};
use http::StatusCode;
use ruma::{
    CanonicalJsonObject, CanonicalJsonValue, OwnedEventId, OwnedRoomId,
    api::{error::ErrorKind, federation::transactions::send_transaction_message::v1 as send_transaction},
};

use crate::{ApiError, Result, Ruma};

/// The spec's transaction limits.
const MAX_PDUS: usize = 50;
const MAX_EDUS: usize = 100;

/// # `PUT /_matrix/federation/v1/send/{txnId}`
pub async fn send_transaction_message_route(
    services: Services,
    request: Ruma<send_transaction::Request>,
) -> Result<send_transaction::Response> {
    let origin = request.auth;
    let body = request.body;
    if body.origin != origin {
        return Err(ApiError::from(Error::forbidden(
            "The transaction's origin is not the authenticated server",
        )));
    }
    if body.pdus.len() > MAX_PDUS || body.edus.len() > MAX_EDUS {
        return Err(ApiError::new(
            ErrorKind::TooLarge,
            format!("At most {MAX_PDUS} PDUs and {MAX_EDUS} EDUs per transaction"),
        )
        .with_status(StatusCode::BAD_REQUEST));
    }
    let Some(federation) = services.federation.as_ref() else {
        return Err(ApiError::from(Error::not_found(
            "Federation is disabled on this server",
        )));
    };
    if let Some(results) = federation.answered_transaction(&origin, &body.transaction_id) {
        return Ok(send_transaction::Response::new(results));
    }
    let rooms = services.rooms.rooms();
    // PDUs grouped by room, in order of arrival within each room.
    let mut by_room: Vec<(OwnedRoomId, Vec<(OwnedEventId, CanonicalJsonObject)>)> = Vec::new();
    for raw in &body.pdus {
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
        // PDUs for rooms this server is not in are dropped (their ids can't even be computed).
        let Ok(version) = rooms.room_version(&room_id) else {
            continue;
        };
        let Some(rules) = version.rules() else { continue };
        let Ok(event_id) = accord_service::rooms::event_id_of(&object, &rules) else {
            continue;
        };
        match by_room.iter_mut().find(|(room, _)| *room == room_id) {
            Some((_, pdus)) => pdus.push((event_id, object)),
            None => by_room.push((room_id, vec![(event_id, object)])),
        }
    }
    // Rooms in parallel, each in order; one fsync for all of them before the answer.
    let pending = accord_service::rooms::PendingWrites::default();
    let per_room = by_room.into_iter().map(|(room_id, pdus)| {
        let services = services.clone();
        let origin = origin.clone();
        let pending = &pending;
        async move {
            let mut results = Vec::with_capacity(pdus.len());
            for (event_id, object) in pdus {
                let outcome = services
                    .receive_pdu_into(&origin, &room_id, object, pending)
                    .await
                    .map(drop)
                    .map_err(|err| err.to_string());
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
    services
        .rooms
        .rooms()
        .make_durable(pending)
        .await
        .map_err(Error::from)?;
    for edu in &body.edus {
        let Ok(edu) = serde_json::from_str::<serde_json::Value>(edu.json().get()) else {
            continue;
        };
        match edu["edu_type"].as_str() {
            Some("m.typing") => services.receive_typing_edu(&origin, &edu["content"]),
            Some("m.receipt") => services.receive_receipt_edu(&origin, &edu["content"]),
            Some("m.presence") => services.receive_presence_edu(&origin, &edu["content"]),
            Some("m.device_list_update") => services.receive_device_list_update(&origin, &edu["content"]),
            Some("m.signing_key_update") => services.receive_signing_key_update(&origin, &edu["content"]),
            Some("m.direct_to_device") => {
                // Acknowledged only once stored: a failure fails the transaction, which the
                // origin retries (duplicates are dropped by message id).
                services
                    .receive_to_device_edu(&origin, &edu["content"])
                    .map_err(ApiError::from)?;
            }
            _ => {}
        }
    }
    federation.remember_transaction(origin, body.transaction_id, results.clone());
    Ok(send_transaction::Response::new(results))
}
