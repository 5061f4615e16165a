//! Timeline positions for history fetched from other servers (backfill). Live events take
//! stream counts upward from [`LIVE_STREAM_START`]; backfilled events take counts downward from
//! just below it, so a room's older history sorts before its live timeline and `/messages`
//! pages into it with ordinary tokens. Backfilled events never enter the global stream that
//! `/sync` follows: they are old news.

use super::RoomBatch;
use std::sync::atomic::{AtomicU64, Ordering};

use accord_storage::codec::KeyBuilder;

use super::ShortEventId;
use crate::{
    Db, Result,
    tables::{GLOBAL, ROOMID_COUNT_SHORTEVENTID},
};

/// Where the live stream of a new database starts; everything below is for backfill.
pub const LIVE_STREAM_START: u64 = 1 << 40;

const BACKFILL_FLOOR_KEY: &[u8] = b"backfill_floor";

/// The lowest backfill count handed out so far (the next one is one less).
#[derive(Debug, Default)]
pub(crate) struct BackfillFloor(AtomicU64);

impl BackfillFloor {
    pub(crate) fn recover(db: &Db) -> Result<Self> {
        let floor = match db.get_raw(GLOBAL, BACKFILL_FLOOR_KEY)? {
            Some(bytes) => super::short::decode_u64(GLOBAL, &bytes)?,
            None => LIVE_STREAM_START,
        };
        Ok(Self(AtomicU64::new(floor)))
    }
}

impl Db {
    /// Reserves a timeline position for a backfilled event, below every position handed out
    /// before; `None` once the range is used up (or in a database whose stream began below
    /// [`LIVE_STREAM_START`], where no position sorts before the live timeline).
    pub fn reserve_backfill_count(&self, batch: &mut RoomBatch<'_>) -> Option<u64> {
        let floor = &self.backfill_floor().0;
        let mut current = floor.load(Ordering::SeqCst);
        loop {
            let next = current.checked_sub(1).filter(|n| *n > 0)?;
            match floor.compare_exchange(current, next, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => {
                    batch.rows().put(GLOBAL, BACKFILL_FLOOR_KEY, next.to_be_bytes());
                    return Some(next);
                }
                Err(actual) => current = actual,
            }
        }
    }

    /// Queues placing a backfilled event in the batch's room's timeline (not in the global
    /// stream).
    pub fn put_backfilled(&self, batch: &mut RoomBatch<'_>, count: u64, short: ShortEventId) {
        let room_id = batch.room_id().to_owned();
        batch.rows().put(
            ROOMID_COUNT_SHORTEVENTID,
            KeyBuilder::new().str(room_id.as_str()).u64(count).build(),
            short.0.to_be_bytes(),
        );
        self.put_backfill_feed(batch, count);
    }
}

impl Db {
    /// The lowest backfilled position handed out so far ([`LIVE_STREAM_START`] when none).
    pub fn backfill_floor_value(&self) -> u64 {
        self.backfill_floor().0.load(Ordering::SeqCst)
    }
}
