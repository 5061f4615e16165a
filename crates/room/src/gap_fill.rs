//! Filling a hole inside a room's timeline: events this server never received that came
//! between two it has (it left and rejoined, or was unreachable longer than
//! `/get_missing_events` reaches). The event above the hole carries
//! [`EventMeta::gap_before`](accord_db::rooms::EventMeta::gap_before); when `/messages` pages
//! back to it, the missing events are fetched with `/backfill` and placed in the free timeline
//! positions between the two events (stream counts are `STREAM_STEP` apart for this), so they
//! show in order with ordinary tokens and `/sync` never replays them.

use std::collections::HashSet;

use accord_db::{Direction, rooms::ShortEventId};
use ruma::{CanonicalJsonObject, OwnedEventId, RoomId, signatures::PublicKeyMap};

use crate::{Result, Rooms, versions::rules_for};

/// What filling a gap achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GapFill {
    /// Events were placed or the gap turned out closed: read the page again.
    Progress,
    /// Nothing usable arrived; the gap stays marked.
    Nothing,
}

impl Rooms {
    /// The prev events of `gap` (an event marked as following a hole) that are not in the
    /// timeline here: what `/backfill` starts from.
    pub fn gap_prev_events(&self, gap: ShortEventId) -> Result<Vec<OwnedEventId>> {
        let Some(pdu) = self.pdu(gap)? else {
            return Ok(Vec::new());
        };
        let mut missing = Vec::new();
        for prev in pdu.prev_events {
            if !self.in_timeline(&prev)? {
                missing.push(prev);
            }
        }
        Ok(missing)
    }

    /// Checks `events` (a `/backfill` answer for the gap before `gap`) and places those that
    /// belong in the hole between `gap` and the timeline event below it. `answer_full` says the
    /// answer was as long as asked for, so more may be missing: the gap mark then moves to the
    /// lowest event placed if that one's prev events are still missing, else it is cleared.
    pub async fn fill_gap(
        &self,
        room_id: &RoomId,
        gap: ShortEventId,
        events: Vec<CanonicalJsonObject>,
        keys: &PublicKeyMap,
        answer_full: bool,
    ) -> Result<GapFill> {
        let guard = self.lock(room_id).await;
        let mut gap_meta = self.db.event_meta(gap)?;
        let Some(gap_count) = gap_meta.count.filter(|_| gap_meta.gap_before) else {
            // Filled meanwhile, or not in the timeline at all.
            return Ok(GapFill::Progress);
        };
        let rules = rules_for(&self.room_version(room_id)?)?;
        let (Some(gap_pdu), Some(gap_state)) = (self.pdu(gap)?, gap_meta.state_after()) else {
            return Ok(GapFill::Nothing);
        };
        let mut batch = guard.batch();
        let below = self
            .db
            .timeline(room_id, gap_count, None, Direction::Backward, 1)?
            .first()
            .copied();
        let Some((floor_count, floor_short)) = below else {
            // Nothing below: this is the oldest event, where ordinary backfill goes on.
            gap_meta.gap_before = false;
            self.db.put_event_meta(&mut batch, gap, &gap_meta);
            self.db.write_room(batch)?;
            return Ok(GapFill::Progress);
        };
        // Events older than the one below the hole belong to older history, not in it.
        let floor_depth = self.pdu(floor_short)?.map(|pdu| pdu.depth).unwrap_or_default();
        let checked: Vec<_> = self
            .check_history(&rules, room_id, events, keys)
            .into_iter()
            .filter(|c| c.pdu.depth >= floor_depth)
            .collect();
        let history_state = self.state_before_own_change(&mut batch, &gap_pdu, gap_state)?;
        let mut next = gap_count;
        let placement = self.place_history(&mut batch, &rules, room_id, &checked, history_state, |_, _| {
            next = next.checked_sub(1).filter(|n| *n > floor_count)?;
            Some(next)
        })?;
        let placed_ids: HashSet<&OwnedEventId> = placement.placed.iter().map(|p| &p.meta.event_id).collect();
        let still_missing = |prevs: &[OwnedEventId]| -> Result<bool> {
            for prev in prevs {
                if !placed_ids.contains(prev) && !self.in_timeline(prev)? {
                    return Ok(true);
                }
            }
            Ok(false)
        };
        let outcome = match placement.placed.last() {
            Some(lowest) => {
                let more = placement.out_of_positions || (answer_full && still_missing(&lowest.prev_events)?);
                if more {
                    let mut meta = lowest.meta.clone();
                    meta.gap_before = true;
                    self.db.put_event_meta(&mut batch, lowest.short, &meta);
                }
                GapFill::Progress
            }
            None if still_missing(&gap_pdu.prev_events)? => return Ok(GapFill::Nothing),
            None => GapFill::Progress,
        };
        gap_meta.gap_before = false;
        self.db.put_event_meta(&mut batch, gap, &gap_meta);
        self.db.write_room(batch)?;
        tracing::info!(room = %room_id, placed = placement.placed.len(), "filled a gap in the timeline");
        Ok(outcome)
    }

    /// Whether the event has its place here: in the timeline, or judged and kept out of it
    /// (rejected, soft-failed). An outlier (known only as state or auth) or an unknown event
    /// is still missing from the timeline.
    fn in_timeline(&self, event_id: &ruma::EventId) -> Result<bool> {
        let Some(short) = self.db.get_short_event_id(event_id)? else {
            return Ok(false);
        };
        let meta = self.db.event_meta(short)?;
        Ok(meta.count.is_some() || meta.rejected || meta.soft_failed)
    }
}
