//! `bump_stamp`: the stream position of a room's latest event of a kind that moves the room
//! up a client's list. Reactions, edits of state and read receipts do not; messages do.
//!
//! The types are those Synapse bumps on (its `SLIDING_SYNC_DEFAULT_BUMP_EVENT_TYPES`): the
//! MSC leaves the choice to the server, and Element X's list should order the same on either.
//!
//! Found by reading the room's timeline backwards from the newest event, which usually stops
//! at the first event; the answer is cached per room with the position it was found at, so a
//! later request reads only the events that arrived since.

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

/// What was found for a room: the bump at or below `scanned`.
#[derive(Debug, Clone, Copy)]
struct Found {
    scanned: u64,
    stamp: Option<u64>,
}

/// The cache of bump stamps. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub(crate) struct BumpStamps {
    cache: Arc<Mutex<HashMap<OwnedRoomId, Found>>>,
}

impl BumpStamps {
    /// The room's latest bump at or below `upto`, if its timeline here holds one.
    pub fn stamp(&self, rooms: &RoomService, room_id: &RoomId, upto: u64) -> Result<Option<u64>> {
        let cached = self.cache.lock().get(room_id).copied();
        match cached {
            Some(found) if found.scanned == upto => Ok(found.stamp),
            // An older position than cached (a request that started before another finished):
            // read it afresh, leave the cache be.
            Some(found) if found.scanned > upto => latest_bump(rooms, room_id, upto, None),
            cached => {
                let floor = cached.map(|found| found.scanned);
                let stamp = match latest_bump(rooms, room_id, upto, floor)? {
                    Some(stamp) => Some(stamp),
                    None => cached.and_then(|found| found.stamp),
                };
                let mut cache = self.cache.lock();
                if cache.len() >= MAX_CACHED {
                    cache.clear();
                }
                cache.insert(room_id.to_owned(), Found { scanned: upto, stamp });
                Ok(stamp)
            }
        }
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
