//! The room's timeline by `origin_server_ts` (spec: "Jump to date", `/timestamp_to_event`):
//! written in the batch that places an event, so every timeline event is found by its time.
//! Ties in time are ordered by timeline position, so the answer is stable.

use accord_storage::{
    Direction, WriteBatch,
    codec::{KeyBuilder, KeyReader},
};
use ruma::RoomId;

use super::{RoomBatch, ShortEventId, short::decode_u64};
use crate::{Db, Error, Result, tables::ROOMID_TS_COUNT};

/// A timeline event found by time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimedEvent {
    /// Its `origin_server_ts`.
    pub ts: u64,
    /// Its timeline position.
    pub count: u64,
    /// The event.
    pub short: ShortEventId,
}

fn time_key(room_id: &RoomId, ts: u64, count: u64) -> Vec<u8> {
    KeyBuilder::new().str(room_id.as_str()).u64(ts).u64(count).build()
}

fn corrupt(err: accord_storage::codec::CodecError) -> Error {
    Error::Corrupt {
        table: ROOMID_TS_COUNT,
        reason: err.to_string(),
    }
}

impl Db {
    /// Queues indexing an event placed at `count` by its `origin_server_ts`.
    pub fn put_event_time(&self, batch: &mut RoomBatch<'_>, ts: u64, count: u64, short: ShortEventId) {
        let key = time_key(batch.room_id(), ts, count);
        batch.rows().put(ROOMID_TS_COUNT, key, short.0.to_be_bytes());
    }

    /// The room's events from `ts` on, walking `direction` in time: the first is the latest at
    /// or before `ts` (backward) or the earliest at or after it (forward); later ones follow
    /// in the same direction. At most `limit`.
    pub fn events_by_time(
        &self,
        room_id: &RoomId,
        ts: u64,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<TimedEvent>> {
        let prefix = KeyBuilder::new().str(room_id.as_str()).prefix();
        let start = match direction {
            Direction::Forward => time_key(room_id, ts, 0),
            Direction::Backward => time_key(room_id, ts, u64::MAX),
        };
        let mut found = Vec::new();
        for item in self.engine().iter_from(ROOMID_TS_COUNT, Some(&start), direction)? {
            let (key, value) = item?;
            if !key.starts_with(&prefix) || found.len() == limit {
                break;
            }
            let mut reader = KeyReader::new(&key);
            reader.str().map_err(corrupt)?;
            let ts = reader.u64().map_err(corrupt)?;
            let count = reader.u64().map_err(corrupt)?;
            let short = ShortEventId(decode_u64(ROOMID_TS_COUNT, &value)?);
            found.push(TimedEvent { ts, count, short });
        }
        Ok(found)
    }
}

/// Schema 2 to 3: indexes every event already in a timeline by its time, in the migration's
/// batch; progress is logged every 100,000 events.
pub(crate) fn index_existing(db: &Db, batch: &mut WriteBatch) -> Result<()> {
    let scanned = super::timeline_feed::for_each_stored_event(
        db,
        "indexing stored events by time",
        |room, count, short, pdu| {
            if let Some(ruma::CanonicalJsonValue::Integer(ts)) = pdu.get("origin_server_ts")
                && let Ok(ts) = u64::try_from(i64::from(*ts))
            {
                batch.put(ROOMID_TS_COUNT, time_key(room, ts, count), short.0.to_be_bytes());
            }
            Ok(())
        },
    )?;
    tracing::info!(scanned, "indexed stored events by time");
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::Arc;

    use accord_storage_rocksdb::RocksEngine;
    use ruma::owned_room_id;
    use serde_json::json;

    use super::*;
    use crate::tables::{self, ROOMID_COUNT_SHORTEVENTID, SHORTEVENTID_PDU};

    #[test]
    fn the_migration_indexes_stored_events_by_time_with_ties_in_timeline_order() {
        let dir = tempfile::tempdir().unwrap();
        let engine: Arc<dyn accord_storage::KvEngine> =
            Arc::new(RocksEngine::open(dir.path(), tables::ALL, tables::DROPPED).unwrap());
        let db = Db::open(engine).unwrap();
        let room = owned_room_id!("!room:example.org");
        let mut batch = WriteBatch::new();
        // (short, count, origin_server_ts): two events share a time; one arrived late with an
        // older time.
        for (short, count, ts) in [(1u64, 10u64, 1_000u64), (2, 20, 2_000), (3, 30, 2_000), (4, 40, 500)] {
            batch.put(
                ROOMID_COUNT_SHORTEVENTID,
                KeyBuilder::new().str(room.as_str()).u64(count).build(),
                short.to_be_bytes(),
            );
            let pdu = json!({ "type": "m.room.message", "origin_server_ts": ts, "content": {} });
            batch.put(SHORTEVENTID_PDU, short.to_be_bytes(), serde_json::to_vec(&pdu).unwrap());
        }
        db.write(batch).unwrap();
        let mut migration = WriteBatch::new();
        index_existing(&db, &mut migration).unwrap();
        db.write(migration).unwrap();

        let shorts = |ts, direction| -> Vec<u64> {
            db.events_by_time(&room, ts, direction, 10)
                .unwrap()
                .iter()
                .map(|found| found.short.0)
                .collect()
        };
        assert_eq!(shorts(2_000, Direction::Backward), vec![3, 2, 1, 4]);
        assert_eq!(shorts(1_500, Direction::Forward), vec![2, 3]);
        assert_eq!(shorts(0, Direction::Forward), vec![4, 1, 2, 3]);
        assert!(shorts(400, Direction::Backward).is_empty());
        assert!(
            db.events_by_time(&room, 2_001, Direction::Forward, 10)
                .unwrap()
                .is_empty()
        );
    }
}
