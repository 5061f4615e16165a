//! What application service delivery keeps durable: each service's progress along the global
//! stream and its to-device queue, the transaction it is sending, and the to-device messages
//! queued for it.
//!
//! A transaction is built and recorded together with the progress it covers, in one batch;
//! it is deleted only when the service accepts it. So after a crash or a restart the same
//! transaction (same id, same body) is sent again, and nothing is skipped or sent twice under
//! two ids.

use accord_storage::{
    Direction, WriteBatch,
    codec::{KeyBuilder, KeyReader},
};
use ruma::{DeviceId, UserId};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{
    Db, Error, Result,
    database::{decode, encode},
    tables::{APPSERVICEID_COUNT_TODEVICE, APPSERVICEID_PENDINGTXN, APPSERVICEID_PROGRESS},
};

/// How far a service's transactions have come.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppserviceProgress {
    /// The global stream position up to which events and receipts are in transactions.
    pub stream: u64,
    /// The id the next transaction gets.
    pub next_txn_id: u64,
}

/// A transaction built and not yet accepted by the service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingTransaction {
    /// Its id (the `{txnId}` of `PUT /_matrix/app/v1/transactions/{txnId}`).
    pub txn_id: u64,
    /// The body, as sent.
    pub body: Value,
    /// How many events, ephemeral events and to-device messages it carries (for logs).
    pub sizes: (usize, usize, usize),
}

fn queue_prefix(appservice: &str) -> Vec<u8> {
    KeyBuilder::new().str(appservice).prefix()
}

impl Db {
    /// A service's progress; `None` before its first transaction.
    pub fn appservice_progress(&self, appservice: &str) -> Result<Option<AppserviceProgress>> {
        self.get_json(APPSERVICEID_PROGRESS, appservice.as_bytes())
    }

    /// Queues a service's new progress.
    pub fn put_appservice_progress(&self, batch: &mut WriteBatch, appservice: &str, progress: &AppserviceProgress) {
        batch.put(APPSERVICEID_PROGRESS, appservice.as_bytes(), encode(progress));
    }

    /// The transaction a service has not accepted yet.
    pub fn pending_appservice_txn(&self, appservice: &str) -> Result<Option<PendingTransaction>> {
        self.get_json(APPSERVICEID_PENDINGTXN, appservice.as_bytes())
    }

    /// Queues recording the transaction a service is to be sent.
    pub fn put_pending_appservice_txn(&self, batch: &mut WriteBatch, appservice: &str, txn: &PendingTransaction) {
        batch.put(APPSERVICEID_PENDINGTXN, appservice.as_bytes(), encode(txn));
    }

    /// Queues forgetting a service's accepted transaction.
    pub fn delete_pending_appservice_txn(&self, batch: &mut WriteBatch, appservice: &str) {
        batch.delete(APPSERVICEID_PENDINGTXN, appservice.as_bytes());
    }

    /// Queues a to-device message for a service at stream position `count` (the position the
    /// message has in the recipient device's queue).
    pub fn put_appservice_to_device(
        &self,
        batch: &mut WriteBatch,
        appservice: &str,
        count: u64,
        recipient: (&UserId, &DeviceId),
        message: &Value,
    ) {
        let key = KeyBuilder::new()
            .str(appservice)
            .u64(count)
            .str(recipient.0.as_str())
            .str(recipient.1.as_str())
            .build();
        batch.put(APPSERVICEID_COUNT_TODEVICE, key, encode(message));
    }

    /// Up to `limit` to-device messages queued for a service, oldest first, each with its key
    /// (to delete it once it is in a transaction).
    pub fn appservice_to_device(&self, appservice: &str, limit: usize) -> Result<Vec<(Vec<u8>, Value)>> {
        let mut out = Vec::new();
        for item in self.engine().iter_prefix(
            APPSERVICEID_COUNT_TODEVICE,
            &queue_prefix(appservice),
            Direction::Forward,
        )? {
            if out.len() == limit {
                break;
            }
            let (key, value) = item?;
            // Checks the layout, so a corrupt row is reported instead of sent.
            let mut reader = KeyReader::new(&key);
            let corrupt = |err: accord_storage::codec::CodecError| Error::Corrupt {
                table: APPSERVICEID_COUNT_TODEVICE,
                reason: err.0,
            };
            reader.str().map_err(corrupt)?;
            reader.u64().map_err(corrupt)?;
            out.push((key, decode(APPSERVICEID_COUNT_TODEVICE, &value)?));
        }
        Ok(out)
    }

    /// Queues deleting a to-device message from a service's queue (it is in a transaction now).
    pub fn delete_appservice_to_device(&self, batch: &mut WriteBatch, key: &[u8]) {
        batch.delete(APPSERVICEID_COUNT_TODEVICE, key);
    }
}
