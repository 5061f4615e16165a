//! Delayed events (MSC4140): events a user scheduled to be sent later, kept until sent or
//! cancelled, so a restart neither loses nor repeats one.

use accord_storage::{WriteBatch, codec::KeyBuilder};
use ruma::{OwnedDeviceId, OwnedRoomId, OwnedUserId};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{
    Db, Result,
    database::encode,
    tables::{DELAYID_DELAYEDEVENT, USERID_DEVICEID_TXNID_DELAYID},
};

/// One scheduled event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DelayedEventRecord {
    /// Its id, for the management endpoints.
    pub delay_id: String,
    /// Who scheduled it, and will send it.
    pub user_id: OwnedUserId,
    /// From which device (the event is sent as from it).
    pub device_id: OwnedDeviceId,
    /// The room.
    pub room_id: OwnedRoomId,
    /// The event type.
    pub kind: String,
    /// The state key, for a state event.
    pub state_key: Option<String>,
    /// The content.
    pub content: Value,
    /// The delay, ms.
    pub delay_ms: u64,
    /// When the delay started (scheduled or restarted), ms since the epoch.
    pub running_since: u64,
    /// The stream position when it was scheduled: state the room gets after it, from
    /// someone else, cancels a delayed state event.
    pub scheduled_at: u64,
}

impl DelayedEventRecord {
    /// When it is due, ms since the epoch.
    pub fn due(&self) -> u64 {
        self.running_since.saturating_add(self.delay_ms)
    }
}

fn txn_key(user_id: &ruma::UserId, device_id: &ruma::DeviceId, txn: &str) -> Vec<u8> {
    KeyBuilder::new()
        .str(user_id.as_str())
        .str(device_id.as_str())
        .str(txn)
        .build()
}

impl Db {
    /// Stores (or updates) a delayed event; with `txn` (the client's transaction id), the
    /// transaction is remembered, so a retry answers the same delay id.
    pub fn put_delayed_event(&self, record: &DelayedEventRecord, txn: Option<&str>) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.put(DELAYID_DELAYEDEVENT, record.delay_id.as_bytes(), encode(record));
        if let Some(txn) = txn {
            let key = txn_key(&record.user_id, &record.device_id, txn);
            batch.put(USERID_DEVICEID_TXNID_DELAYID, key, record.delay_id.as_bytes());
        }
        self.write(batch)
    }

    /// The delay id a transaction of this device scheduled, if it did.
    pub fn delay_id_of_txn(
        &self,
        user_id: &ruma::UserId,
        device_id: &ruma::DeviceId,
        txn: &str,
    ) -> Result<Option<String>> {
        Ok(self
            .get_raw(USERID_DEVICEID_TXNID_DELAYID, &txn_key(user_id, device_id, txn))?
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned()))
    }

    /// One delayed event.
    pub fn delayed_event(&self, delay_id: &str) -> Result<Option<DelayedEventRecord>> {
        self.get_json(DELAYID_DELAYEDEVENT, delay_id.as_bytes())
    }

    /// Every pending delayed event.
    pub fn delayed_events(&self) -> Result<Vec<DelayedEventRecord>> {
        Ok(self
            .scan_json::<DelayedEventRecord>(DELAYID_DELAYEDEVENT, &[])?
            .into_iter()
            .map(|(_, record)| record)
            .collect())
    }

    /// Removes a delayed event (sent or cancelled); returns whether it was there.
    pub fn delete_delayed_event(&self, delay_id: &str) -> Result<bool> {
        if self.delayed_event(delay_id)?.is_none() {
            return Ok(false);
        }
        let mut batch = WriteBatch::new();
        batch.delete(DELAYID_DELAYEDEVENT, delay_id.as_bytes());
        self.write(batch)?;
        Ok(true)
    }
}
