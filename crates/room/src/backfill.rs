//! Storing history fetched from other servers (`/backfill`) before the oldest event this server
//! has of a room: each event is checked (signatures, content hash, auth against its own auth
//! events) and placed in the timeline below everything already there.
//!
//! The state at backfilled events is not fetched: they share the state before the oldest event
//! known here, without that event's own change. For history visibility that means `shared`
//! and `world_readable` history shows to members, `joined` history stays hidden, and `invited`
//! history stays hidden too (an earlier invite is not known): it errs on the private side.

use std::collections::HashMap;

use accord_db::{
    Direction,
    rooms::{EventMeta, ShortEventId},
};
use ruma::{CanonicalJsonObject, EventId, OwnedEventId, RoomId, signatures::PublicKeyMap, state_res};

use crate::{Result, Rooms, remote_state::Checked, versions::rules_for};

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
        let mut checked: Vec<Checked> = Vec::new();
        for json in events {
            match self.check_remote(&rules, room_id, json, keys) {
                Ok(event) => checked.push(event),
                Err(err) => tracing::info!(room = %room_id, %err, "backfilled event refused"),
            }
        }
        // Newest first: each takes the next lower position.
        checked.sort_by_key(|c| std::cmp::Reverse(c.pdu.depth));
        let by_id: HashMap<OwnedEventId, &Checked> = checked.iter().map(|c| (c.pdu.event_id.clone(), c)).collect();
        let fetch = |id: &EventId| {
            by_id
                .get(id)
                .map(|c| c.pdu.clone())
                .or_else(|| self.pdu_by_id(id).ok().flatten())
        };

        // The state the history shares: before the oldest event's own change.
        let mut batch = guard.batch();
        let history_state = match &oldest_pdu.state_key {
            Some(key) => {
                let short_key = self.db.intern_state_key(&oldest_pdu.kind.to_string(), key)?;
                self.db
                    .put_state_diff(&mut batch, Some(oldest_state.hash), Vec::new(), vec![short_key])?
            }
            None => oldest_state.hash,
        };

        let mut added = 0;
        for event in &checked {
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
            let Some(count) = self.db.reserve_backfill_count(&mut batch).filter(|c| *c < oldest_count) else {
                tracing::warn!(room = %room_id, "no timeline positions left below the room's history; backfill stops");
                break;
            };
            let short = match existing {
                Some(short) => short,
                None => {
                    let short = ShortEventId(self.db.next_short_id());
                    self.db.put_short_event_id(&mut batch, &pdu.event_id, short);
                    short
                }
            };
            let canonical =
                serde_json::to_vec(&event.json).map_err(|err| crate::Error::InvalidEvent(err.to_string()))?;
            self.db.put_pdu_json(&mut batch, short, canonical);
            self.db.put_event_meta(
                &mut batch,
                short,
                &EventMeta {
                    event_id: pdu.event_id.clone(),
                    room_id: room_id.to_owned(),
                    count: Some(count),
                    state_after: Some(history_state.0),
                    rejected: false,
                    soft_failed: false,
                    redacted_by: None,
                    txn: None,
                    gap_before: false,
                },
            );
            self.db.put_backfilled(&mut batch, count, short);
            added += 1;
        }
        self.db.write_room(batch)?;
        Ok(added)
    }
}
