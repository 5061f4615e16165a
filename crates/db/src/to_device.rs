//! To-device messages: queued per device at a stream position, delivered by `/sync` until the
//! device acknowledges them (by syncing with a later `since`), then deleted. Also the records
//! that make sends idempotent: a client's transaction ids and other servers' message ids.

use accord_storage::{
    Direction, WriteBatch,
    codec::{KeyBuilder, KeyReader},
};
use ruma::{DeviceId, OwnedUserId, UserId};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{
    Db, Error, Result,
    database::{decode, encode},
    tables::{
        COUNT_USERID, SENDER_MESSAGEID_TODEVICE, USERID_DEVICEID_COUNT_TODEVICE, USERID_DEVICEID_TODEVICEDELIVERY,
        USERID_DEVICEID_TXNID_TODEVICE,
    },
};

/// One message waiting for a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToDeviceMessage {
    /// Who sent it.
    pub sender: OwnedUserId,
    /// Its event type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its content.
    pub content: Value,
}

/// The last `/sync` that delivered only part of a device's queue: its `next_batch` and the
/// position of the last message it carried. Acknowledging that token deletes only what was
/// delivered, not the rest of the queue below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartialDelivery {
    /// The `next_batch` of that sync.
    pub token: u64,
    /// The position of the last message it delivered.
    pub upto: u64,
}

fn device_prefix(user_id: &UserId, device_id: &DeviceId) -> Vec<u8> {
    KeyBuilder::new().str(user_id.as_str()).str(device_id.as_str()).prefix()
}

fn device_key(user_id: &UserId, device_id: &DeviceId) -> Vec<u8> {
    KeyBuilder::new().str(user_id.as_str()).str(device_id.as_str()).build()
}

fn message_count(key: &[u8]) -> Result<u64> {
    let mut reader = KeyReader::new(key);
    let corrupt = |err: accord_storage::codec::CodecError| Error::Corrupt {
        table: USERID_DEVICEID_COUNT_TODEVICE,
        reason: err.0,
    };
    reader.str().map_err(corrupt)?;
    reader.str().map_err(corrupt)?;
    reader.u64().map_err(corrupt)
}

impl Db {
    /// Queues a message for a device at stream position `count`.
    pub fn put_to_device(
        &self,
        batch: &mut WriteBatch,
        user_id: &UserId,
        device_id: &DeviceId,
        count: u64,
        message: &ToDeviceMessage,
    ) {
        let key = KeyBuilder::new()
            .str(user_id.as_str())
            .str(device_id.as_str())
            .u64(count)
            .build();
        batch.put(USERID_DEVICEID_COUNT_TODEVICE, key, encode(message));
        // Lets the stream resume above this position after a restart.
        batch.put(COUNT_USERID, count.to_be_bytes(), user_id.as_bytes());
    }

    /// Up to `limit` messages for a device at positions `<= until`, oldest first.
    pub fn to_device_messages(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        until: u64,
        limit: usize,
    ) -> Result<Vec<(u64, ToDeviceMessage)>> {
        let mut out = Vec::new();
        for item in self.engine().iter_prefix(
            USERID_DEVICEID_COUNT_TODEVICE,
            &device_prefix(user_id, device_id),
            Direction::Forward,
        )? {
            let (key, value) = item?;
            let count = message_count(&key)?;
            if count > until || out.len() >= limit {
                break;
            }
            out.push((count, decode(USERID_DEVICEID_COUNT_TODEVICE, &value)?));
        }
        Ok(out)
    }

    /// Deletes a device's messages at positions `<= upto` (acknowledged).
    pub fn delete_to_device_upto(&self, user_id: &UserId, device_id: &DeviceId, upto: u64) -> Result<()> {
        let mut batch = WriteBatch::new();
        for item in self.engine().iter_prefix(
            USERID_DEVICEID_COUNT_TODEVICE,
            &device_prefix(user_id, device_id),
            Direction::Forward,
        )? {
            let (key, _) = item?;
            if message_count(&key)? > upto {
                break;
            }
            batch.delete(USERID_DEVICEID_COUNT_TODEVICE, key);
        }
        self.write(batch)
    }

    /// Queues deleting everything kept for a device's to-device messages (it was deleted).
    pub fn delete_device_to_device(
        &self,
        batch: &mut WriteBatch,
        user_id: &UserId,
        device_id: &DeviceId,
    ) -> Result<()> {
        let prefix = device_prefix(user_id, device_id);
        for table in [USERID_DEVICEID_COUNT_TODEVICE, USERID_DEVICEID_TXNID_TODEVICE] {
            for item in self.engine().iter_prefix(table, &prefix, Direction::Forward)? {
                batch.delete(table, item?.0);
            }
        }
        batch.delete(USERID_DEVICEID_TODEVICEDELIVERY, device_key(user_id, device_id));
        Ok(())
    }

    /// The device's last partial delivery, if its last `/sync` left messages behind.
    pub fn get_partial_delivery(&self, user_id: &UserId, device_id: &DeviceId) -> Result<Option<PartialDelivery>> {
        self.get_json(USERID_DEVICEID_TODEVICEDELIVERY, &device_key(user_id, device_id))
    }

    /// Records (or, with `None`, clears) the device's last partial delivery.
    pub fn set_partial_delivery(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        delivery: Option<PartialDelivery>,
    ) -> Result<()> {
        let mut batch = WriteBatch::new();
        let key = device_key(user_id, device_id);
        match delivery {
            Some(delivery) => batch.put(USERID_DEVICEID_TODEVICEDELIVERY, key, encode(&delivery)),
            None => batch.delete(USERID_DEVICEID_TODEVICEDELIVERY, key),
        }
        self.write(batch)
    }

    /// Whether a device already sent to-device transaction `txn_id`.
    pub fn to_device_txn_seen(&self, user_id: &UserId, device_id: &DeviceId, txn_id: &str) -> Result<bool> {
        let key = KeyBuilder::new()
            .str(user_id.as_str())
            .str(device_id.as_str())
            .str(txn_id)
            .build();
        Ok(self.get_raw(USERID_DEVICEID_TXNID_TODEVICE, &key)?.is_some())
    }

    /// Queues recording to-device transaction `txn_id` of a device.
    pub fn put_to_device_txn(&self, batch: &mut WriteBatch, user_id: &UserId, device_id: &DeviceId, txn_id: &str) {
        let key = KeyBuilder::new()
            .str(user_id.as_str())
            .str(device_id.as_str())
            .str(txn_id)
            .build();
        batch.put(USERID_DEVICEID_TXNID_TODEVICE, key, Vec::new());
    }

    /// Whether a message id of a remote sender was already received.
    pub fn remote_to_device_seen(&self, sender: &UserId, message_id: &str) -> Result<bool> {
        let key = KeyBuilder::new().str(sender.as_str()).str(message_id).build();
        Ok(self.get_raw(SENDER_MESSAGEID_TODEVICE, &key)?.is_some())
    }

    /// Queues recording a remote sender's message id, received at `received_ts`.
    pub fn put_remote_to_device_seen(
        &self,
        batch: &mut WriteBatch,
        sender: &UserId,
        message_id: &str,
        received_ts: u64,
    ) {
        let key = KeyBuilder::new().str(sender.as_str()).str(message_id).build();
        batch.put(SENDER_MESSAGEID_TODEVICE, key, received_ts.to_be_bytes().to_vec());
    }

    /// Forgets remote message ids received before `before_ts` (a retry comes within minutes,
    /// not days). Returns how many were removed.
    pub fn prune_remote_to_device_seen(&self, before_ts: u64) -> Result<usize> {
        let mut batch = WriteBatch::new();
        for item in self
            .engine()
            .iter_from(SENDER_MESSAGEID_TODEVICE, None, Direction::Forward)?
        {
            let (key, value) = item?;
            let received = value.as_slice().try_into().map(u64::from_be_bytes).unwrap_or(0);
            if received < before_ts {
                batch.delete(SENDER_MESSAGEID_TODEVICE, key);
            }
        }
        let removed = batch.len();
        self.write(batch)?;
        Ok(removed)
    }
}
