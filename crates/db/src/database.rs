//! The database handle: the engine plus the catalog, with JSON helpers the typed stores share.

use std::sync::Arc;

use accord_storage::{Direction, KvEngine, WriteBatch};
use serde::{Serialize, de::DeserializeOwned};

use crate::{
    Error, Result,
    edu_queue::EduCounter,
    migrations,
    rooms::{BackfillFloor, RoomBatch, RoomGuard, RoomLocks, ShortIdCounter, Stream},
};

/// Typed access to Accord's tables. Cheap to clone; all clones share one engine and the
/// in-memory counters recovered at open.
#[derive(Clone)]
pub struct Db {
    engine: Arc<dyn KvEngine>,
    short_ids: Arc<ShortIdCounter>,
    stream: Arc<Stream>,
    backfill_floor: Arc<BackfillFloor>,
    edu_counter: Arc<EduCounter>,
    intern_lock: Arc<parking_lot::Mutex<()>>,
    /// Held while an audit record is appended: the chain has one head.
    audit_lock: Arc<parking_lot::Mutex<()>>,
    /// Events queued for writing since start, for the `accord_events_persisted` metric.
    events_written: Arc<std::sync::atomic::AtomicU64>,
    room_locks: RoomLocks,
    /// Each room's forward extremities as committed, read on every send. Kept in memory: the
    /// rows are replaced on every event, and a prefix scan over them walks every deletion still
    /// in the memtable (a third of a send's CPU in a busy room before this cache).
    extremities: Arc<parking_lot::Mutex<std::collections::HashMap<ruma::OwnedRoomId, Vec<ruma::OwnedEventId>>>>,
    /// Set once a write or fsync failed: the engine may hold writes that are visible but not
    /// durable, so nothing more is written (fail-stop, like RocksDB's own background error) and
    /// the stream positions of those writes are never released (see `release_count`).
    storage_failed: Arc<std::sync::OnceLock<String>>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").finish_non_exhaustive()
    }
}

impl Db {
    /// Wraps an engine opened with [`crate::tables::ALL`], running pending migrations first.
    pub fn open(engine: Arc<dyn KvEngine>) -> Result<Self> {
        let mut db = Self {
            engine,
            short_ids: Arc::default(),
            stream: Arc::default(),
            backfill_floor: Arc::new(BackfillFloor::default()),
            edu_counter: Arc::default(),
            intern_lock: Arc::default(),
            audit_lock: Arc::default(),
            events_written: Arc::default(),
            room_locks: RoomLocks::default(),
            extremities: Arc::default(),
            storage_failed: Arc::default(),
        };
        migrations::run(&db)?;
        db.short_ids = Arc::new(ShortIdCounter::recover(&db)?);
        db.stream = Arc::new(Stream::recover(&db)?);
        db.backfill_floor = Arc::new(BackfillFloor::recover(&db)?);
        db.edu_counter = Arc::new(EduCounter::recover(&db)?);
        Ok(db)
    }

    pub(crate) fn engine(&self) -> &dyn KvEngine {
        self.engine.as_ref()
    }

    pub(crate) fn short_ids(&self) -> &ShortIdCounter {
        &self.short_ids
    }

    pub(crate) fn stream(&self) -> &Stream {
        &self.stream
    }

    pub(crate) fn backfill_floor(&self) -> &BackfillFloor {
        &self.backfill_floor
    }

    pub(crate) fn edu_counter(&self) -> &EduCounter {
        &self.edu_counter
    }

    pub(crate) fn intern_lock(&self) -> &parking_lot::Mutex<()> {
        &self.intern_lock
    }

    pub(crate) fn audit_lock(&self) -> &parking_lot::Mutex<()> {
        &self.audit_lock
    }

    /// Commits `batch` atomically and durably. A failure stops all later writes (see
    /// [`Db::storage_failed`]).
    pub fn write(&self, batch: WriteBatch) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        self.refuse_if_failed()?;
        self.engine.write(batch).map_err(|err| self.fail(err))
    }

    /// Waits for `room_id`'s lock: the proof every write to the room's tables needs.
    pub async fn lock_room(&self, room_id: &ruma::RoomId) -> RoomGuard {
        self.room_locks.lock(room_id).await
    }

    /// Commits a room's batch atomically and durably, still under its lock.
    pub fn write_room(&self, batch: RoomBatch<'_>) -> Result<()> {
        let (rows, extremities) = batch.into_parts();
        self.write(rows)?;
        self.note_committed_extremities(extremities);
        Ok(())
    }

    /// Commits a room's batch atomically and visibly, still under its lock; durable once
    /// [`Db::sync`] returns.
    pub fn write_room_deferred(&self, batch: RoomBatch<'_>) -> Result<()> {
        let (rows, extremities) = batch.into_parts();
        self.write_deferred(rows)?;
        self.note_committed_extremities(extremities);
        Ok(())
    }

    /// The extremities a committed batch left its room with, into the cache.
    fn note_committed_extremities(&self, extremities: Option<(ruma::OwnedRoomId, Vec<ruma::OwnedEventId>)>) {
        if let Some((room_id, list)) = extremities {
            self.extremities.lock().insert(room_id, list);
        }
    }

    /// The cached extremities of a room, if read or written since the start.
    pub(crate) fn cached_extremities(&self, room_id: &ruma::RoomId) -> Option<Vec<ruma::OwnedEventId>> {
        self.extremities.lock().get(room_id).cloned()
    }

    /// Forgets a room's cached extremities (its rows were deleted outside a room batch).
    pub(crate) fn forget_extremities(&self, room_id: &ruma::RoomId) {
        self.extremities.lock().remove(room_id);
    }

    /// Remembers a room's extremities as read from the database.
    pub(crate) fn cache_extremities(&self, room_id: &ruma::RoomId, list: &[ruma::OwnedEventId]) {
        self.extremities
            .lock()
            .entry(room_id.to_owned())
            .or_insert_with(|| list.to_vec());
    }

    /// Commits `batch` atomically and visibly; durable once [`Db::sync`] returns.
    pub fn write_deferred(&self, batch: WriteBatch) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        self.refuse_if_failed()?;
        self.engine.write_deferred(batch).map_err(|err| self.fail(err))
    }

    /// Makes every write so far durable (one fsync shared by everyone waiting).
    pub fn sync(&self) -> Result<()> {
        self.refuse_if_failed()?;
        self.engine.sync().map_err(|err| self.fail(err))
    }

    /// Why storage stopped taking writes, once a write or fsync failed. What was written but
    /// not made durable may or may not survive a crash, so the server must not acknowledge or
    /// show anything more until a restart recovers from the write-ahead log.
    pub fn storage_failed(&self) -> Option<&str> {
        self.storage_failed.get().map(String::as_str)
    }

    fn refuse_if_failed(&self) -> Result<()> {
        match self.storage_failed() {
            Some(reason) => Err(Error::StorageFailed(reason.to_owned())),
            None => Ok(()),
        }
    }

    fn fail(&self, err: accord_storage::Error) -> Error {
        let reason = err.to_string();
        if self.storage_failed.set(reason.clone()).is_ok() {
            tracing::error!(
                %reason,
                "storage failed to write durably; refusing all further writes: check the disk, then restart Accord"
            );
        }
        Error::StorageFailed(reason)
    }

    /// Events written since this process started.
    pub fn events_written(&self) -> u64 {
        self.events_written.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(crate) fn count_event_written(&self) {
        self.events_written.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Each table's size as the engine estimates it.
    pub fn table_figures(&self) -> Vec<accord_storage::TableFigures> {
        self.engine.figures()
    }

    /// A consistent copy of the database in the new directory `dir`, taken while serving.
    pub fn checkpoint(&self, dir: &std::path::Path) -> Result<()> {
        Ok(self.engine.checkpoint(dir)?)
    }

    /// Rewrites the files so deleted rows' bytes leave the disk.
    pub fn compact(&self) -> Result<()> {
        Ok(self.engine.compact()?)
    }

    /// Flushes memtables (at shutdown).
    pub fn flush(&self) -> Result<()> {
        Ok(self.engine.flush()?)
    }

    pub(crate) fn get_raw(&self, table: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.engine.get(table, key)?)
    }

    pub(crate) fn get_json<T: DeserializeOwned>(&self, table: &'static str, key: &[u8]) -> Result<Option<T>> {
        self.get_raw(table, key)?.map(|bytes| decode(table, &bytes)).transpose()
    }

    /// All `(key, value)` pairs under `prefix`, decoded, in key order.
    pub(crate) fn scan_json<T: DeserializeOwned>(
        &self,
        table: &'static str,
        prefix: &[u8],
    ) -> Result<Vec<(Vec<u8>, T)>> {
        self.engine
            .iter_prefix(table, prefix, Direction::Forward)?
            .map(|item| {
                let (key, value) = item?;
                Ok((key, decode(table, &value)?))
            })
            .collect()
    }

    /// The distinct first key parts (strings) of `table`, one seek each, whatever the number of
    /// keys under each (the per-destination queues, which a partner that is down fills).
    pub(crate) fn distinct_first_parts(&self, table: &'static str) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut from: Option<Vec<u8>> = None;
        loop {
            let Some(item) = self
                .engine
                .iter_from(table, from.as_deref(), Direction::Forward)?
                .next()
            else {
                break;
            };
            let key = item?.0;
            let first = accord_storage::codec::KeyReader::new(&key)
                .str()
                .map_err(|e| Error::Corrupt {
                    table,
                    reason: e.to_string(),
                })?
                .to_owned();
            let prefix = accord_storage::codec::KeyBuilder::new().str(&first).prefix();
            out.push(first);
            match accord_storage::prefix_upper_bound(&prefix) {
                Some(next) => from = Some(next),
                None => break,
            }
        }
        Ok(out)
    }

    /// `(key, value)` pairs under `prefix`, undecoded, in key order.
    pub(crate) fn scan_raw(&self, table: &'static str, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.engine
            .iter_prefix(table, prefix, Direction::Forward)?
            .map(|item| Ok(item?))
            .collect()
    }

    /// Keys under `prefix`, in key order.
    pub(crate) fn scan_keys(&self, table: &'static str, prefix: &[u8]) -> Result<Vec<Vec<u8>>> {
        self.engine
            .iter_prefix(table, prefix, Direction::Forward)?
            .map(|item| Ok(item?.0))
            .collect()
    }
}

/// Serializes a value for storage; our record types always serialize.
pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

/// Parses an identifier (room, event, user id, alias) stored as its UTF-8 text.
pub(crate) fn decode_id<T: TryFrom<String>>(table: &'static str, bytes: &[u8]) -> Result<T> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|text| T::try_from(text.to_owned()).ok())
        .ok_or(Error::Corrupt {
            table,
            reason: "not a valid identifier".to_owned(),
        })
}

pub(crate) fn decode<T: DeserializeOwned>(table: &'static str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|err| Error::Corrupt {
        table,
        reason: err.to_string(),
    })
}
