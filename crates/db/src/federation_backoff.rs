//! Backoff of destinations the federation sender could not reach, kept across restarts: a
//! partner that was down before a restart is not retried at once by every restarted server.

use ruma::ServerName;
use serde::{Deserialize, Serialize};

use crate::{Db, Result, database::encode, tables::SERVERNAME_BACKOFF};
use accord_storage::WriteBatch;

/// How long the sender waits before trying a destination again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DestinationBackoff {
    /// Failed attempts in a row.
    pub failures: u32,
    /// The current wait, in milliseconds (doubles per failure up to the sender's maximum).
    pub delay_ms: u64,
    /// Not before this time (ms since the Unix epoch).
    pub retry_at_ms: u64,
}

impl Db {
    /// The stored backoff of `destination`, if it is failing.
    pub fn get_destination_backoff(&self, destination: &ServerName) -> Result<Option<DestinationBackoff>> {
        self.get_json(SERVERNAME_BACKOFF, destination.as_bytes())
    }

    /// Records that `destination` is failing.
    pub fn put_destination_backoff(&self, destination: &ServerName, backoff: &DestinationBackoff) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.put(SERVERNAME_BACKOFF, destination.as_bytes(), encode(backoff));
        self.write(batch)
    }

    /// Forgets the backoff of `destination` (it answered, or showed it is back).
    pub fn delete_destination_backoff(&self, destination: &ServerName) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.delete(SERVERNAME_BACKOFF, destination.as_bytes());
        self.write(batch)
    }

    /// Every failing destination with its backoff (for metrics and the admin API).
    pub fn destination_backoffs(&self) -> Result<Vec<(ruma::OwnedServerName, DestinationBackoff)>> {
        let mut out = Vec::new();
        for (key, backoff) in self.scan_json::<DestinationBackoff>(SERVERNAME_BACKOFF, &[])? {
            if let Some(name) = String::from_utf8(key)
                .ok()
                .and_then(|name| ruma::OwnedServerName::try_from(name).ok())
            {
                out.push((name, backoff));
            }
        }
        Ok(out)
    }

    /// Queues forgetting `destination`'s backoff (an admin's reset, in the batch of its audit
    /// record).
    pub fn queue_delete_destination_backoff(&self, batch: &mut WriteBatch, destination: &ServerName) {
        batch.delete(SERVERNAME_BACKOFF, destination.as_bytes());
    }

    /// Forgets every stored backoff (the allow and deny lists changed).
    pub fn clear_destination_backoffs(&self) -> Result<()> {
        let mut batch = WriteBatch::new();
        for key in self.scan_keys(SERVERNAME_BACKOFF, &[])? {
            batch.delete(SERVERNAME_BACKOFF, key);
        }
        self.write(batch)
    }
}
