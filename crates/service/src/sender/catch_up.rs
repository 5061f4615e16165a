//! Catch-up after a partner comes back: rather than replaying a long backlog in order, send
//! the newest of our events in each room; the partner fetches what it lacks before them with
//! `/get_missing_events` (and the state at a gap too long for that), as the server-server API
//! has receivers do for any gap. We keep the newest [`KEPT_PER_ROOM`] per room: a receiver
//! asks `/get_missing_events` for up to that many, so an outage of up to twice that leaves no
//! hole at all, and a longer one costs the partner a bounded catch-up instead of a replay.

use std::collections::{HashMap, HashSet};

use accord_db::Db;
use ruma::{OwnedRoomId, ServerName};

use super::transaction::MAX_PDUS_PER_TRANSACTION;

/// Queued events kept per room when a backlog is reduced.
const KEPT_PER_ROOM: usize = MAX_PDUS_PER_TRANSACTION;

/// Reduces `destination`'s PDU backlog to the newest [`KEPT_PER_ROOM`] queued events of each
/// room. Returns `(before, after)` when it dropped anything.
pub(super) fn reduce_backlog(db: &Db, destination: &ServerName) -> accord_db::Result<Option<(usize, usize)>> {
    let rows = db.queued_for(destination, usize::MAX)?;
    if rows.len() <= KEPT_PER_ROOM {
        return Ok(None);
    }
    let mut per_room: HashMap<OwnedRoomId, Vec<u64>> = HashMap::new();
    for (count, event_id) in &rows {
        let Some(short) = db.get_short_event_id(event_id)? else {
            continue;
        };
        per_room.entry(db.event_meta(short)?.room_id).or_default().push(*count);
    }
    // Rows come oldest first, so each room's list ends with its newest.
    let keep: HashSet<u64> = per_room
        .into_values()
        .flat_map(|counts| {
            let skip = counts.len().saturating_sub(KEPT_PER_ROOM);
            counts.into_iter().skip(skip)
        })
        .collect();
    let drop: Vec<u64> = rows
        .iter()
        .map(|(count, _)| *count)
        .filter(|count| !keep.contains(count))
        .collect();
    if drop.is_empty() {
        return Ok(None);
    }
    db.dequeue(destination, &drop)?;
    Ok(Some((rows.len(), keep.len())))
}
