//! The global stream: every timeline event gets a count, the position `/sync` tokens are made
//! of. Counts are handed out in memory and become visible only when every smaller count has
//! committed, so a reader never skips an event that commits late.
//!
//! Counts are [`STREAM_STEP`] apart. The positions between two counts belong to no stream
//! change: they are where history found later goes in a room's timeline, when this server
//! learns of events that came between two it already has (a gap filled by `/backfill`, see
//! `backfill.rs`), so `/messages` shows them in place with ordinary tokens.

use super::{RoomBatch, RoomGuard};
use crate::database::decode_id;
use std::{
    collections::BTreeSet,
    sync::atomic::{AtomicU64, Ordering},
};

use accord_storage::{
    Direction, WriteBatch,
    codec::{KeyBuilder, KeyReader},
};
use parking_lot::Mutex;
use ruma::{OwnedRoomId, RoomId};

use super::{ShortEventId, short::decode_u64};
use crate::{
    Db, Error, Result,
    tables::{
        COUNT_DEVICELISTUSERID, COUNT_PRESENCEUSERID, COUNT_ROOMID, COUNT_USERID, ROOMID_COUNT_SHORTEVENTID,
        ROOMID_EVENTID_EXTREMITY,
    },
};

/// The distance between two consecutive stream counts: room for this many minus one events
/// found later in any gap of a room's timeline. At 2^16, a database starting at
/// [`super::LIVE_STREAM_START`] (2^40) has 2^48 stream counts before a `u64` runs out.
pub const STREAM_STEP: u64 = 1 << 16;

/// Allocation and visibility of stream counts, and the signal waiters watch.
#[derive(Debug)]
pub(crate) struct Stream {
    last: AtomicU64,
    in_flight: Mutex<BTreeSet<u64>>,
    visible: tokio::sync::watch::Sender<u64>,
}

impl Default for Stream {
    fn default() -> Self {
        Self {
            last: AtomicU64::new(0),
            in_flight: Mutex::default(),
            visible: tokio::sync::watch::Sender::new(0),
        }
    }
}

/// A reserved count; release it with [`Db::release_count`] once its batch is durable. A ticket
/// whose write failed is dropped unreleased: readers stop before it.
#[derive(Debug)]
#[must_use = "release the count after committing, or readers stall"]
pub struct StreamTicket(pub u64);

impl Stream {
    pub(crate) fn recover(db: &Db) -> Result<Self> {
        // Every stream position is recorded in one of these tables; resume after the largest.
        // A new database starts at LIVE_STREAM_START, leaving the counts below to backfill.
        let mut last = 0;
        for table in [COUNT_ROOMID, COUNT_USERID, COUNT_PRESENCEUSERID, COUNT_DEVICELISTUSERID] {
            if let Some(item) = db.engine().iter_from(table, None, Direction::Backward)?.next() {
                last = last.max(decode_u64(table, &item?.0)?);
            }
        }
        if last == 0 {
            last = super::LIVE_STREAM_START;
        }
        Ok(Self {
            last: AtomicU64::new(last),
            in_flight: Mutex::default(),
            visible: tokio::sync::watch::Sender::new(last),
        })
    }
}

impl Db {
    /// Reserves the next stream count.
    pub fn reserve_count(&self) -> StreamTicket {
        let stream = self.stream();
        let mut in_flight = stream.in_flight.lock();
        let count = stream.last.fetch_add(STREAM_STEP, Ordering::SeqCst) + STREAM_STEP;
        in_flight.insert(count);
        StreamTicket(count)
    }

    /// Marks a reserved count as finished (its batch committed or was abandoned) and wakes
    /// whoever waits for the stream to move.
    pub fn release_count(&self, ticket: StreamTicket) {
        self.stream().in_flight.lock().remove(&ticket.0);
        self.stream().visible.send_replace(self.visible_count());
    }

    /// A receiver that changes whenever the visible stream position moves (for `/sync`).
    pub fn subscribe_stream(&self) -> tokio::sync::watch::Receiver<u64> {
        self.stream().visible.subscribe()
    }

    /// Commits a batch that records a change at the next stream position (account data and
    /// other per-user streams), then releases the position. Returns the position.
    pub fn write_at_next_count(&self, build: impl FnOnce(&mut WriteBatch, u64)) -> Result<u64> {
        let ticket = self.reserve_count();
        let count = ticket.0;
        let mut batch = WriteBatch::new();
        build(&mut batch, count);
        // A failed write keeps the position held: storage has stopped (see `Db::write`) and
        // readers must not pass a position whose write may or may not be on disk.
        self.write(batch)?;
        self.release_count(ticket);
        Ok(count)
    }

    /// Like [`Db::write_at_next_count`], for a change to a room's tables made under its lock.
    pub fn write_room_at_next_count(
        &self,
        guard: &RoomGuard,
        build: impl FnOnce(&mut RoomBatch<'_>, u64),
    ) -> Result<u64> {
        let ticket = self.reserve_count();
        let count = ticket.0;
        let mut batch = guard.batch();
        build(&mut batch, count);
        self.write_room(batch)?;
        self.release_count(ticket);
        Ok(count)
    }

    /// The highest count below which everything has committed: what readers may see.
    pub fn visible_count(&self) -> u64 {
        let stream = self.stream();
        let in_flight = stream.in_flight.lock();
        match in_flight.first() {
            Some(first) => first - 1,
            None => stream.last.load(Ordering::SeqCst),
        }
    }

    /// Queues placing an event in the batch's room's timeline and the global stream.
    pub fn put_timeline(&self, batch: &mut RoomBatch<'_>, count: u64, short: ShortEventId) {
        let room_id = batch.room_id().to_owned();
        let batch = batch.rows();
        batch.put(
            ROOMID_COUNT_SHORTEVENTID,
            KeyBuilder::new().str(room_id.as_str()).u64(count).build(),
            short.0.to_be_bytes(),
        );
        batch.put(COUNT_ROOMID, count.to_be_bytes(), room_id.as_bytes());
    }

    /// Queues recording that `room_id` changed at `count` without a timeline event (typing), so
    /// the room shows up in incremental syncs and the position survives restarts.
    pub fn put_room_change(&self, batch: &mut WriteBatch, room_id: &RoomId, count: u64) {
        batch.put(COUNT_ROOMID, count.to_be_bytes(), room_id.as_bytes());
    }

    /// Up to `limit` timeline entries of a room, starting after (Forward) or before (Backward)
    /// `from`, stopping at `to` (exclusive) when given.
    pub fn timeline(
        &self,
        room_id: &RoomId,
        from: u64,
        to: Option<u64>,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<(u64, ShortEventId)>> {
        let prefix = KeyBuilder::new().str(room_id.as_str()).prefix();
        let start = match direction {
            Direction::Forward => KeyBuilder::new()
                .str(room_id.as_str())
                .u64(from.saturating_add(1))
                .build(),
            Direction::Backward => KeyBuilder::new()
                .str(room_id.as_str())
                .u64(from.saturating_sub(1))
                .build(),
        };
        if direction == Direction::Backward && from == 0 {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for item in self
            .engine()
            .iter_from(ROOMID_COUNT_SHORTEVENTID, Some(&start), direction)?
        {
            let (key, value) = item?;
            if !key.starts_with(&prefix) || out.len() >= limit {
                break;
            }
            let mut reader = KeyReader::new(&key);
            let corrupt = |e: accord_storage::codec::CodecError| Error::Corrupt {
                table: ROOMID_COUNT_SHORTEVENTID,
                reason: e.to_string(),
            };
            reader.str().map_err(corrupt)?;
            let count = reader.u64().map_err(corrupt)?;
            let past_end = match (direction, to) {
                (Direction::Forward, Some(to)) => count >= to,
                (Direction::Backward, Some(to)) => count <= to,
                (_, None) => false,
            };
            if past_end {
                break;
            }
            out.push((count, ShortEventId(decode_u64(ROOMID_COUNT_SHORTEVENTID, &value)?)));
        }
        Ok(out)
    }

    /// Rooms with timeline events in `(since, until]`, each once, in no particular order.
    pub fn rooms_changed(&self, since: u64, until: u64) -> Result<Vec<OwnedRoomId>> {
        let mut rooms = BTreeSet::new();
        let start = since.saturating_add(1).to_be_bytes();
        for item in self
            .engine()
            .iter_from(COUNT_ROOMID, Some(&start), Direction::Forward)?
        {
            let (key, value) = item?;
            if decode_u64(COUNT_ROOMID, &key)? > until {
                break;
            }
            let room: OwnedRoomId = decode_id(COUNT_ROOMID, &value)?;
            rooms.insert(room);
        }
        Ok(rooms.into_iter().collect())
    }

    /// The room's forward extremities (events with no children yet).
    pub fn extremities(&self, room_id: &RoomId) -> Result<Vec<ruma::OwnedEventId>> {
        if let Some(list) = self.cached_extremities(room_id) {
            return Ok(list);
        }
        let prefix = KeyBuilder::new().str(room_id.as_str()).prefix();
        let list = self
            .scan_keys(ROOMID_EVENTID_EXTREMITY, &prefix)?
            .into_iter()
            .map(|key| decode_id(ROOMID_EVENTID_EXTREMITY, &key[prefix.len()..]))
            .collect::<Result<Vec<ruma::OwnedEventId>>>()?;
        self.cache_extremities(room_id, &list);
        Ok(list)
    }

    /// Queues replacing `replaced` extremities of the batch's room by `event_id`.
    pub fn replace_extremities(
        &self,
        batch: &mut RoomBatch<'_>,
        replaced: &[ruma::OwnedEventId],
        event_id: &ruma::EventId,
    ) -> Result<()> {
        let room_id = batch.room_id().to_owned();
        let mut list = match batch.queued_extremities() {
            Some(list) => list.clone(),
            None => self.extremities(&room_id)?,
        };
        list.retain(|id| !replaced.contains(id));
        if !list.iter().any(|id| id == event_id) {
            list.push(event_id.to_owned());
        }
        let rows = batch.rows();
        for old in replaced {
            rows.delete(
                ROOMID_EVENTID_EXTREMITY,
                KeyBuilder::new().str(room_id.as_str()).str(old.as_str()).build(),
            );
        }
        rows.put(
            ROOMID_EVENTID_EXTREMITY,
            KeyBuilder::new().str(room_id.as_str()).str(event_id.as_str()).build(),
            Vec::new(),
        );
        batch.note_extremities(list);
        Ok(())
    }

    /// Queues taking `dropped` out of the batch's room's forward extremities (Synapse's admin
    /// repair of a room that has gathered too many); the events themselves stay.
    pub fn drop_extremities(&self, batch: &mut RoomBatch<'_>, dropped: &[ruma::OwnedEventId]) -> Result<()> {
        let room_id = batch.room_id().to_owned();
        let mut list = match batch.queued_extremities() {
            Some(list) => list.clone(),
            None => self.extremities(&room_id)?,
        };
        list.retain(|id| !dropped.contains(id));
        for old in dropped {
            batch.rows().delete(
                ROOMID_EVENTID_EXTREMITY,
                KeyBuilder::new().str(room_id.as_str()).str(old.as_str()).build(),
            );
        }
        batch.note_extremities(list);
        Ok(())
    }
}
