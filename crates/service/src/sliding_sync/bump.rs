//! `bump_stamp`: the stream position of a room's latest event of a kind that moves the room
//! up a client's list. Reactions, edits of state and read receipts do not; messages do.
//!
//! The types are those Synapse bumps on (its `SLIDING_SYNC_DEFAULT_BUMP_EVENT_TYPES`): the
//! MSC leaves the choice to the server, and Element X's list should order the same on either.
//!
//! One cache for the whole server: each room's latest bump as of one global position. When
//! the stream moves on, only the rooms with events since (one read of the stream's room
//! index) are read again, from where the cache left off; a room asked for the first time is
//! read backwards from its newest event, which usually stops at the first event.

use std::{collections::HashMap, sync::Arc};

use accord_db::Direction;
use parking_lot::Mutex;
use ruma::{OwnedRoomId, RoomId};

use crate::{Result, rooms::RoomService};

/// Event types that bump a room.
const BUMP_TYPES: &[&str] = &[
    "m.room.create",
    "m.room.message",
    "m.room.encrypted",
    "m.sticker",
    "m.call.invite",
    "m.poll.start",
    "m.beacon_info",
];

/// Events read per page while looking for a bump.
const PAGE: usize = 50;

/// Rooms cached at most; past this the cache starts over (a full read per room again).
const MAX_CACHED: usize = 200_000;

/// The cache: every room's latest bump at or below `scanned`.
#[derive(Debug, Default)]
struct Cache {
    scanned: u64,
    stamps: HashMap<OwnedRoomId, Option<u64>>,
}

/// The cache of bump stamps. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub(crate) struct BumpStamps {
    cache: Arc<Mutex<Cache>>,
}

impl BumpStamps {
    /// The room's latest bump at or below `upto`, if its timeline here holds one.
    pub fn stamp(&self, rooms: &RoomService, room_id: &RoomId, upto: u64) -> Result<Option<u64>> {
        self.advance(rooms, upto)?;
        let (scanned, cached) = {
            let cache = self.cache.lock();
            (cache.scanned, cache.stamps.get(room_id).copied())
        };
        match cached {
            // Cached as of a position at or past `upto`: right for `upto` unless the bump came
            // after it (a request that started before the cache moved on).
            Some(stamp) if scanned >= upto && stamp.is_none_or(|stamp| stamp <= upto) => Ok(stamp),
            Some(_) => latest_bump(rooms, room_id, upto, None),
            None => {
                let stamp = latest_bump(rooms, room_id, scanned, None)?;
                let mut cache = self.cache.lock();
                if cache.scanned == scanned {
                    if cache.stamps.len() >= MAX_CACHED {
                        cache.stamps.clear();
                    }
                    cache.stamps.insert(room_id.to_owned(), stamp);
                }
                drop(cache);
                if scanned >= upto && stamp.is_none_or(|stamp| stamp <= upto) {
                    Ok(stamp)
                } else {
                    latest_bump(rooms, room_id, upto, None)
                }
            }
        }
    }

    /// Moves the cache to `upto`: rereads the cached rooms with events since it was last moved.
    fn advance(&self, rooms: &RoomService, upto: u64) -> Result<()> {
        let mut cache = self.cache.lock();
        if cache.scanned >= upto {
            return Ok(());
        }
        let from = cache.scanned;
        for room_id in rooms.rooms().db().rooms_changed(from, upto)? {
            if let Some(stamp) = cache.stamps.get(&room_id).copied()
                && let Some(newer) = latest_bump(rooms, &room_id, upto, Some(from))?
                && stamp.is_none_or(|stamp| newer > stamp)
            {
                cache.stamps.insert(room_id, Some(newer));
            }
        }
        cache.scanned = upto;
        Ok(())
    }
}

/// The position of the newest bumping event in `(floor, upto]`.
fn latest_bump(rooms: &RoomService, room_id: &RoomId, upto: u64, floor: Option<u64>) -> Result<Option<u64>> {
    let db = rooms.rooms().db();
    let mut from = upto.saturating_add(1);
    loop {
        let page = db.timeline(room_id, from, floor, Direction::Backward, PAGE)?;
        let Some(&(last, _)) = page.last() else {
            return Ok(None);
        };
        for (count, short) in page {
            if let Some(pdu) = rooms.rooms().pdu(short)?
                && BUMP_TYPES.contains(&pdu.kind.to_string().as_str())
            {
                return Ok(Some(count));
            }
        }
        from = last;
    }
}
