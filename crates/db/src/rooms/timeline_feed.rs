//! The whole server's timeline as a feed, for followers that index every event (the search
//! index): live positions in stream order, and backfilled positions (which never enter the
//! global stream) in the order they were handed out, each with its room.

use accord_storage::{
    Direction,
    codec::{KeyBuilder, KeyReader},
};
use ruma::{OwnedRoomId, RoomId};

use super::{RoomBatch, ShortEventId, short::decode_u64};
use crate::{
    Db, Error, Result,
    database::decode_id,
    tables::{BACKFILLCOUNT_ROOMID, COUNT_ROOMID, ROOMID_COUNT_SHORTEVENTID},
};

impl Db {
    /// Queues recording that backfilled position `count` is in the batch's room.
    pub(crate) fn put_backfill_feed(&self, batch: &mut RoomBatch<'_>, count: u64) {
        let room_id = batch.room_id().as_bytes().to_vec();
        batch.rows().put(BACKFILLCOUNT_ROOMID, count.to_be_bytes(), room_id);
    }

    /// The event at timeline position `count` of a room, if that position holds one.
    pub fn timeline_entry(&self, room_id: &RoomId, count: u64) -> Result<Option<ShortEventId>> {
        let key = KeyBuilder::new().str(room_id.as_str()).u64(count).build();
        self.get_raw(ROOMID_COUNT_SHORTEVENTID, &key)?
            .map(|value| decode_u64(ROOMID_COUNT_SHORTEVENTID, &value).map(ShortEventId))
            .transpose()
    }

    /// Live stream positions in `(after, until]` with their rooms, at most `limit`, oldest
    /// first. A position may be a room change without a timeline event (a receipt).
    pub fn stream_positions(&self, after: u64, until: u64, limit: usize) -> Result<Vec<(u64, OwnedRoomId)>> {
        let start = after.saturating_add(1).to_be_bytes();
        let mut found = Vec::new();
        for item in self
            .engine()
            .iter_from(COUNT_ROOMID, Some(&start), Direction::Forward)?
        {
            let (key, value) = item?;
            let count = decode_u64(COUNT_ROOMID, &key)?;
            if count > until || found.len() == limit {
                break;
            }
            found.push((count, decode_id(COUNT_ROOMID, &value)?));
        }
        Ok(found)
    }

    /// Every room's timeline rows after `(room, count)` (from the start without it), room by
    /// room in position order, at most `limit`: the whole timeline, read in pages.
    pub fn timeline_rows_after(
        &self,
        after: Option<(&RoomId, u64)>,
        limit: usize,
    ) -> Result<Vec<(OwnedRoomId, u64, ShortEventId)>> {
        let start = after.map(|(room, count)| KeyBuilder::new().str(room.as_str()).u64(count).build());
        let mut found = Vec::new();
        for item in self
            .engine()
            .iter_from(ROOMID_COUNT_SHORTEVENTID, start.as_deref(), Direction::Forward)?
        {
            let (key, value) = item?;
            if start.as_deref() == Some(key.as_slice()) {
                continue;
            }
            if found.len() == limit {
                break;
            }
            let mut reader = KeyReader::new(&key);
            let corrupt = |err: accord_storage::codec::CodecError| Error::Corrupt {
                table: ROOMID_COUNT_SHORTEVENTID,
                reason: err.to_string(),
            };
            let room: OwnedRoomId = reader
                .str()
                .map_err(corrupt)?
                .try_into()
                .map_err(|err: ruma::IdParseError| Error::Corrupt {
                    table: ROOMID_COUNT_SHORTEVENTID,
                    reason: err.to_string(),
                })?;
            let count = reader.u64().map_err(corrupt)?;
            found.push((
                room,
                count,
                ShortEventId(decode_u64(ROOMID_COUNT_SHORTEVENTID, &value)?),
            ));
        }
        Ok(found)
    }

    /// Backfilled positions below `below` with their rooms, at most `limit`, highest first
    /// (the order backfill hands them out).
    pub fn backfilled_positions(&self, below: u64, limit: usize) -> Result<Vec<(u64, OwnedRoomId)>> {
        if below == 0 {
            return Ok(Vec::new());
        }
        let start = (below - 1).to_be_bytes();
        let mut found = Vec::new();
        for item in self
            .engine()
            .iter_from(BACKFILLCOUNT_ROOMID, Some(&start), Direction::Backward)?
        {
            let (key, value) = item?;
            if found.len() == limit {
                break;
            }
            found.push((
                decode_u64(BACKFILLCOUNT_ROOMID, &key)?,
                decode_id(BACKFILLCOUNT_ROOMID, &value)?,
            ));
        }
        Ok(found)
    }
}

/// Visits every event in every timeline with its room, position and stored PDU, logging
/// progress every 100,000 events as `what` (the migrations that index stored events).
pub(crate) fn for_each_stored_event(
    db: &Db,
    what: &str,
    mut visit: impl FnMut(&RoomId, u64, ShortEventId, ruma::CanonicalJsonObject) -> Result<()>,
) -> Result<u64> {
    let mut scanned = 0u64;
    let mut after: Option<(OwnedRoomId, u64)> = None;
    loop {
        let rows = db.timeline_rows_after(after.as_ref().map(|(room, count)| (&**room, *count)), 1000)?;
        let Some((room, count, _)) = rows.last() else {
            break;
        };
        after = Some((room.clone(), *count));
        for (room_id, count, short) in rows {
            scanned += 1;
            if scanned.is_multiple_of(100_000) {
                tracing::info!(scanned, "{what}");
            }
            if let Some(pdu) = db.get_pdu_json(short)? {
                visit(&room_id, count, short, pdu)?;
            }
        }
    }
    Ok(scanned)
}
