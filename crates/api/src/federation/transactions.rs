//! `PUT /_matrix/federation/v1/send/{txnId}`: extracts the transaction and renders the
//! per-PDU results; `Services::receive_transaction` does the work.

use accord_service::{Services, transactions::InboundTransaction};
use ruma::api::federation::transactions::send_transaction_message::v1 as send_transaction;

use crate::{Result, Ruma};

/// # `PUT /_matrix/federation/v1/send/{txnId}`
pub async fn send_transaction_message_route(
    services: Services,
    request: Ruma<send_transaction::Request>,
) -> Result<send_transaction::Response> {
    let body = request.body;
    let results = services
        .receive_transaction(InboundTransaction {
            origin: request.auth,
            claimed_origin: &body.origin,
            txn_id: body.transaction_id.clone(),
            pdus: &body.pdus,
            edus: &body.edus,
        })
        .await?;
    Ok(send_transaction::Response::new(results))
}
