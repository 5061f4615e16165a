//! Storing history fetched from other servers (`/backfill`) before the oldest event this server
//! has of a room: each event is checked (signatures, content hash, auth against its own auth
//! events) and placed in the timeline below everything already there. Gaps inside the timeline
//! are filled the same way (see `gap_fill.rs`); both share [`Rooms::place_history`].
//!
//! The state at backfilled events is not fetched: they share the state before the event just
//! above them, without that event's own change. For history visibility that means `shared`
//! and `world_readable` history shows to members, `joined` history stays hidden, and `invited`
//! history stays hidden too (an earlier invite is not known): it errs on the private side.

use std::collections::HashMap;

use accord_core::Pdu;
use accord_db::{
    Direction,
    rooms::{EventMeta, RoomBatch, ShortEventId, ShortStateHash},
};
use ruma::{
    CanonicalJsonObject, EventId, OwnedEventId, RoomId, room_version_rules::RoomVersionRules, signatures::PublicKeyMap,
    state_res,
};

use crate::{Result, Rooms, remote_state::Checked, versions::rules_for};

/// One event [`Rooms::place_history`] put in the timeline.
pub(crate) struct Placed {
    /// Its short id.
    pub(crate) short: ShortEventId,
    /// The meta queued for it (a caller may mark a gap on it and queue it again).
    pub(crate) meta: EventMeta,
    /// Its prev events.
    pub(crate) prev_events: Vec<OwnedEventId>,
}

/// What [`Rooms::place_history`] did.
pub(crate) struct Placement {
    /// The events placed, newest (highest position) first.
    pub(crate) placed: Vec<Placed>,
    /// It stopped because no position was left for the next event.
    pub(crate) out_of_positions: bool,
}

impl Rooms {
    /// The oldest event of the room's timeline here, and its prev events this server does not
    /// have in the timeline: where backfill starts. `None` when history is complete (the oldest
    /// event is the room's creation).
    pub fn backfill_point(&self, room_id: &RoomId) -> Result<Option<OwnedEventId>> {
        let Some((_, short)) = self
            .db
            .timeline(room_id, 0, None, Direction::Forward, 1)?
            .first()
            .copied()
        else {
            return Ok(None);
        };
        let Some(pdu) = self.pdu(short)? else { return Ok(None) };
        if pdu.prev_events.is_empty() {
            return Ok(None);
        }
        Ok(Some(pdu.event_id))
    }

    /// Checks and stores `events` (from `/backfill`) before the room's oldest timeline event;
    /// returns how many were added. Events already in the timeline, or failing the checks, are
    /// skipped.
    pub async fn store_backfilled(
        &self,
        room_id: &RoomId,
        events: Vec<CanonicalJsonObject>,
        keys: &PublicKeyMap,
    ) -> Result<usize> {
        let guard = self.lock(room_id).await;
        let rules = rules_for(&self.room_version(room_id)?)?;
        let Some((oldest_count, oldest)) = self
            .db
            .timeline(room_id, 0, None, Direction::Forward, 1)?
            .first()
            .copied()
        else {
            return Ok(0);
        };
        let (Some(oldest_pdu), Some(oldest_state)) = (self.pdu(oldest)?, self.state_after(oldest)?) else {
            return Ok(0);
        };
        let checked = self.check_history(&rules, room_id, events, keys);
        let mut batch = guard.batch();
        let history_state = self.state_before_own_change(&mut batch, &oldest_pdu, oldest_state.hash)?;
        let placement = self.place_history(&mut batch, &rules, room_id, &checked, history_state, |db, batch| {
            let count = db.reserve_backfill_count(batch).filter(|c| *c < oldest_count);
            if count.is_none() {
                tracing::warn!(room = %room_id, "no timeline positions left below the room's history; backfill stops");
            }
            count
        })?;
        self.db.write_room(batch)?;
        Ok(placement.placed.len())
    }

    /// The events of a `/backfill` answer that pass the checks of any remote event (each
    /// refusal logged), newest first.
    pub(crate) fn check_history(
        &self,
        rules: &RoomVersionRules,
        room_id: &RoomId,
        events: Vec<CanonicalJsonObject>,
        keys: &PublicKeyMap,
    ) -> Vec<Checked> {
        let mut checked: Vec<Checked> = Vec::new();
        for json in events {
            match self.check_remote(rules, room_id, json, keys) {
                Ok(event) => checked.push(event),
                Err(err) => tracing::info!(room = %room_id, %err, "backfilled event refused"),
            }
        }
        checked.sort_by_key(|c| std::cmp::Reverse(c.pdu.depth));
        checked
    }

    /// The state history found below `pdu` shares: the state after `pdu` without `pdu`'s own
    /// change (the state before it is not known here).
    pub(crate) fn state_before_own_change(
        &self,
        batch: &mut RoomBatch<'_>,
        pdu: &Pdu,
        state_after: ShortStateHash,
    ) -> Result<ShortStateHash> {
        Ok(match &pdu.state_key {
            Some(key) => {
                let short_key = self.db.intern_state_key(&pdu.kind.to_string(), key)?;
                self.db
                    .put_state_diff(batch, Some(state_after), Vec::new(), vec![short_key])?
            }
            None => state_after,
        })
    }

    /// Queues placing `checked` (newest first) in the room's timeline, each at the position
    /// `next_position` hands out (descending), sharing `history_state`. Events already in the
    /// timeline, or failing auth against their own auth events, are skipped.
    pub(crate) fn place_history(
        &self,
        batch: &mut RoomBatch<'_>,
        rules: &RoomVersionRules,
        room_id: &RoomId,
        checked: &[Checked],
        history_state: ShortStateHash,
        mut next_position: impl FnMut(&accord_db::Db, &mut RoomBatch<'_>) -> Option<u64>,
    ) -> Result<Placement> {
        let by_id: HashMap<OwnedEventId, &Checked> = checked.iter().map(|c| (c.pdu.event_id.clone(), c)).collect();
        let fetch = |id: &EventId| {
            by_id
                .get(id)
                .map(|c| c.pdu.clone())
                .or_else(|| self.pdu_by_id(id).ok().flatten())
        };
        let mut placement = Placement {
            placed: Vec::new(),
            out_of_positions: false,
        };
        for event in checked {
            let pdu = &event.pdu;
            let existing = self.db.get_short_event_id(&pdu.event_id)?;
            if let Some(short) = existing
                && self.db.event_meta(short)?.count.is_some()
            {
                continue;
            }
            if let Err(reason) = state_res::check_state_independent_auth_rules(&rules.authorization, pdu, fetch) {
                tracing::info!(room = %room_id, event = %pdu.event_id, %reason, "backfilled event fails auth");
                continue;
            }
            let Some(count) = next_position(&self.db, batch) else {
                placement.out_of_positions = true;
                break;
            };
            let short = match existing {
                Some(short) => short,
                None => {
                    let short = ShortEventId(self.db.next_short_id());
                    self.db.put_short_event_id(batch, &pdu.event_id, short);
                    short
                }
            };
            let canonical =
                serde_json::to_vec(&event.json).map_err(|err| crate::Error::InvalidEvent(err.to_string()))?;
            self.db.put_pdu_json(batch, short, canonical);
            let meta = EventMeta {
                event_id: pdu.event_id.clone(),
                room_id: room_id.to_owned(),
                count: Some(count),
                state_after: Some(history_state.0),
                rejected: false,
                soft_failed: false,
                redacted_by: None,
                txn: None,
                gap_before: false,
            };
            self.db.put_event_meta(batch, short, &meta);
            self.db.put_backfilled(batch, count, short);
            self.index_placed(batch, pdu, count, short)?;
            placement.placed.push(Placed {
                short,
                meta,
                prev_events: pdu.prev_events.clone(),
            });
        }
        Ok(placement)
    }
}
