//! Catch-up after a partner comes back: rather than replaying a long backlog in order, send
//! the newest of our events in each room; the partner fetches what it lacks before them with
//! `/get_missing_events` (and the state at a gap too long for that), as the server-server API
//! has receivers do for any gap. A backlog that fits one transaction is sent whole: the partner
//! then has every event without a request of its own.

use std::collections::{HashMap, HashSet};

use accord_db::Db;
use ruma::{OwnedRoomId, ServerName};

use super::transaction::MAX_PDUS_PER_TRANSACTION;

/// Reduces `destination`'s PDU backlog to the newest queued event of each room when it is
/// longer than one transaction. Returns `(before, after)` when it did.
pub(super) fn reduce_backlog(db: &Db, destination: &ServerName) -> accord_db::Result<Option<(usize, usize)>> {
    let rows = db.queued_for(destination, usize::MAX)?;
    if rows.len() <= MAX_PDUS_PER_TRANSACTION {
        return Ok(None);
    }
    // Rows come oldest first, so the last one seen per room is its newest.
    let mut newest: HashMap<OwnedRoomId, u64> = HashMap::new();
    for (count, event_id) in &rows {
        let Some(short) = db.get_short_event_id(event_id)? else {
            continue;
        };
        newest.insert(db.event_meta(short)?.room_id, *count);
    }
    let keep: HashSet<u64> = newest.into_values().collect();
    let drop: Vec<u64> = rows
        .iter()
        .map(|(count, _)| *count)
        .filter(|count| !keep.contains(count))
        .collect();
    db.dequeue(destination, &drop)?;
    Ok(Some((rows.len(), keep.len())))
}
