//! Short ids: u64 stand-ins for event ids and `(type, state_key)` pairs, so state snapshots
//! and indexes stay small. One counter serves every kind of short id.

use super::RoomBatch;
use std::sync::atomic::{AtomicU64, Ordering};

use accord_storage::{Direction, WriteBatch, codec::KeyBuilder};
use ruma::{EventId, OwnedEventId};

use crate::{
    Db, Error, Result,
    tables::{
        EVENTID_SHORTEVENTID, SHORTEVENTID_PDU, SHORTSTATEHASH_SNAPSHOT, SHORTSTATEKEY_STATEKEY, STATEKEY_SHORTSTATEKEY,
    },
};

/// Short id of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ShortEventId(pub u64);

/// Short id of an `(event type, state key)` pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ShortStateKey(pub u64);

/// Short id of a state snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ShortStateHash(pub u64);

/// The shared short-id counter, recovered at open from the largest id in use.
#[derive(Debug, Default)]
pub(crate) struct ShortIdCounter(AtomicU64);

impl ShortIdCounter {
    pub(crate) fn recover(db: &Db) -> Result<Self> {
        let mut max = 0;
        for table in [SHORTEVENTID_PDU, SHORTSTATEKEY_STATEKEY, SHORTSTATEHASH_SNAPSHOT] {
            if let Some(item) = db.engine().iter_from(table, None, Direction::Backward)?.next() {
                max = max.max(decode_u64(table, &item?.0)?);
            }
        }
        Ok(Self(AtomicU64::new(max)))
    }

    pub(crate) fn next(&self) -> u64 {
        self.0.fetch_add(1, Ordering::SeqCst) + 1
    }
}

pub(crate) fn decode_u64(table: &'static str, bytes: &[u8]) -> Result<u64> {
    <[u8; 8]>::try_from(bytes)
        .map(u64::from_be_bytes)
        .map_err(|_| Error::Corrupt {
            table,
            reason: "expected an 8-byte integer".to_owned(),
        })
}

pub(crate) fn state_key_bytes(event_type: &str, state_key: &str) -> Vec<u8> {
    KeyBuilder::new().str(event_type).str(state_key).build()
}

impl Db {
    /// Allocates a fresh short id (for a new event or snapshot).
    pub fn next_short_id(&self) -> u64 {
        self.short_ids().next()
    }

    /// The short id of a stored event.
    pub fn get_short_event_id(&self, event_id: &EventId) -> Result<Option<ShortEventId>> {
        self.get_raw(EVENTID_SHORTEVENTID, event_id.as_bytes())?
            .map(|bytes| decode_u64(EVENTID_SHORTEVENTID, &bytes).map(ShortEventId))
            .transpose()
    }

    /// Queues the event id <-> short id mapping of a new event.
    pub fn put_short_event_id(&self, batch: &mut RoomBatch<'_>, event_id: &EventId, short: ShortEventId) {
        batch
            .rows()
            .put(EVENTID_SHORTEVENTID, event_id.as_bytes(), short.0.to_be_bytes());
    }

    /// The short id of `(event_type, state_key)`, if it was ever interned.
    pub fn get_short_state_key(&self, event_type: &str, state_key: &str) -> Result<Option<ShortStateKey>> {
        self.get_raw(STATEKEY_SHORTSTATEKEY, &state_key_bytes(event_type, state_key))?
            .map(|bytes| decode_u64(STATEKEY_SHORTSTATEKEY, &bytes).map(ShortStateKey))
            .transpose()
    }

    /// The short id of `(event_type, state_key)`, interning it at once if new.
    ///
    /// State keys are shared by all rooms, whose writers run in parallel; a process-wide lock
    /// and an immediate write make sure one pair never gets two ids. The write goes to the
    /// write-ahead log without an fsync of its own: every batch that uses the id is written
    /// after it, and the log is replayed in order, so whichever fsync makes that batch durable
    /// makes the interning durable too (a crash before it loses both). Joining a room with N
    /// state keys costs no fsync here instead of N.
    pub fn intern_state_key(&self, event_type: &str, state_key: &str) -> Result<ShortStateKey> {
        if let Some(short) = self.get_short_state_key(event_type, state_key)? {
            return Ok(short);
        }
        let _guard = self.intern_lock().lock();
        if let Some(short) = self.get_short_state_key(event_type, state_key)? {
            return Ok(short);
        }
        let short = ShortStateKey(self.next_short_id());
        let bytes = state_key_bytes(event_type, state_key);
        let mut batch = WriteBatch::new();
        batch.put(STATEKEY_SHORTSTATEKEY, bytes.clone(), short.0.to_be_bytes());
        batch.put(SHORTSTATEKEY_STATEKEY, short.0.to_be_bytes(), bytes);
        self.write_deferred(batch)?;
        Ok(short)
    }

    /// The `(event_type, state_key)` a short state key stands for.
    pub fn state_key_of(&self, short: ShortStateKey) -> Result<(String, String)> {
        let bytes = self
            .get_raw(SHORTSTATEKEY_STATEKEY, &short.0.to_be_bytes())?
            .ok_or(Error::NotFound("short state key"))?;
        let mut reader = accord_storage::codec::KeyReader::new(&bytes);
        let corrupt = |e: accord_storage::codec::CodecError| Error::Corrupt {
            table: SHORTSTATEKEY_STATEKEY,
            reason: e.to_string(),
        };
        let event_type = reader.str().map_err(corrupt)?.to_owned();
        let state_key = reader.str().map_err(corrupt)?.to_owned();
        Ok((event_type, state_key))
    }

    /// The event id behind a short event id.
    pub fn event_id_of(&self, short: ShortEventId) -> Result<OwnedEventId> {
        Ok(self.event_meta(short)?.event_id)
    }
}
