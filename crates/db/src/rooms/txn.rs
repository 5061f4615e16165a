//! Client transaction ids: a replayed `PUT .../send/{type}/{txnId}` returns the first event.
//! A transaction id is scoped to one device and one endpoint (spec: "Transaction identifiers"),
//! so the key holds the endpoint too: the same id in another room or for a redaction is a new
//! transaction. (Rows written before the endpoint was part of the key are never matched again;
//! a client retries a transaction for seconds, not across an upgrade.)

use super::RoomBatch;
use crate::database::decode_id;
use accord_storage::codec::KeyBuilder;
use ruma::{DeviceId, EventId, OwnedEventId, UserId};

use crate::{Db, Result, tables::USERID_DEVICEID_TXNID_EVENTID};

fn key(user_id: &UserId, device_id: &DeviceId, endpoint: &str, txn_id: &str) -> Vec<u8> {
    KeyBuilder::new()
        .str(user_id.as_str())
        .str(device_id.as_str())
        .str(endpoint)
        .str(txn_id)
        .build()
}

impl Db {
    /// The event a transaction created, if it ran before.
    pub fn get_txn_event(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        endpoint: &str,
        txn_id: &str,
    ) -> Result<Option<OwnedEventId>> {
        self.get_raw(
            USERID_DEVICEID_TXNID_EVENTID,
            &key(user_id, device_id, endpoint, txn_id),
        )?
        .map(|bytes| decode_id(USERID_DEVICEID_TXNID_EVENTID, &bytes))
        .transpose()
    }

    /// Queues recording the event a transaction created (in the event's own batch).
    pub fn put_txn_event(
        &self,
        batch: &mut RoomBatch<'_>,
        user_id: &UserId,
        device_id: &DeviceId,
        endpoint: &str,
        txn_id: &str,
        event_id: &EventId,
    ) {
        batch.rows().put(
            USERID_DEVICEID_TXNID_EVENTID,
            key(user_id, device_id, endpoint, txn_id),
            event_id.as_bytes(),
        );
    }
}
