//! The durable per-destination EDU queue, for EDUs that must not be lost (to-device messages,
//! device list and signing key updates): queued in the batch that makes the change, deleted
//! once the destination accepted the transaction carrying them. Typing and presence stay in
//! the federation crate's in-memory queue: losing them in a crash is harmless.

use std::sync::atomic::{AtomicU64, Ordering};

use accord_storage::{
    Direction, WriteBatch,
    codec::{KeyBuilder, KeyReader},
};
use ruma::{OwnedServerName, ServerName};
use serde_json::Value;

use crate::{
    Db, Error, Result,
    database::{decode, encode},
    tables::DESTINATION_COUNT_EDU,
};

/// Hands out queue positions; resumes above the largest queued one after a restart.
#[derive(Debug, Default)]
pub(crate) struct EduCounter(AtomicU64);

impl EduCounter {
    pub(crate) fn recover(db: &Db) -> Result<Self> {
        let mut last = 0;
        for destination in db.durable_edu_destinations()? {
            let prefix = KeyBuilder::new().str(destination.as_str()).prefix();
            if let Some(item) = db
                .engine()
                .iter_prefix(DESTINATION_COUNT_EDU, &prefix, Direction::Backward)?
                .next()
            {
                last = last.max(queue_position(&item?.0)?.1);
            }
        }
        Ok(Self(AtomicU64::new(last)))
    }
}

fn corrupt(err: accord_storage::codec::CodecError) -> Error {
    Error::Corrupt {
        table: DESTINATION_COUNT_EDU,
        reason: err.0,
    }
}

/// `(destination, position)` of a queue key.
fn queue_position(key: &[u8]) -> Result<(String, u64)> {
    let mut reader = KeyReader::new(key);
    let destination = reader.str().map_err(corrupt)?.to_owned();
    let count = reader.u64().map_err(corrupt)?;
    Ok((destination, count))
}

impl Db {
    /// Queues `edu` (`{"edu_type", "content"}`) for `destination` in `batch`.
    pub fn queue_durable_edu(&self, batch: &mut WriteBatch, destination: &ServerName, edu: &Value) {
        let count = self.edu_counter().0.fetch_add(1, Ordering::SeqCst) + 1;
        batch.put(
            DESTINATION_COUNT_EDU,
            KeyBuilder::new().str(destination.as_str()).u64(count).build(),
            encode(edu),
        );
    }

    /// Up to `limit` queued EDUs for `destination`, oldest first: `(position, edu)`.
    pub fn durable_edus_for(&self, destination: &ServerName, limit: usize) -> Result<Vec<(u64, Value)>> {
        let prefix = KeyBuilder::new().str(destination.as_str()).prefix();
        self.engine()
            .iter_prefix(DESTINATION_COUNT_EDU, &prefix, Direction::Forward)?
            .take(limit)
            .map(|item| {
                let (key, value) = item?;
                Ok((queue_position(&key)?.1, decode(DESTINATION_COUNT_EDU, &value)?))
            })
            .collect()
    }

    /// Removes delivered EDUs.
    pub fn dequeue_durable_edus(&self, destination: &ServerName, positions: &[u64]) -> Result<()> {
        let mut batch = WriteBatch::new();
        for position in positions {
            batch.delete(
                DESTINATION_COUNT_EDU,
                KeyBuilder::new().str(destination.as_str()).u64(*position).build(),
            );
        }
        self.write(batch)
    }

    /// Every destination with queued EDUs: one seek per destination, whatever the backlog.
    pub fn durable_edu_destinations(&self) -> Result<Vec<OwnedServerName>> {
        Ok(self
            .distinct_first_parts(DESTINATION_COUNT_EDU)?
            .into_iter()
            .filter_map(|name| OwnedServerName::try_from(name).ok())
            .collect())
    }
}
