//! Learning the state at an event whose history can't be fetched (spec: "PDU checks", step 5:
//! when `/get_missing_events` can't close a gap, the state at the missing prev event comes from
//! `/state_ids` and the events not known here from `/event`). The prev event is stored as an
//! outlier with that state after it, so events built on it can be checked; it does not enter
//! the timeline (clients see a gap, as with a limited `/sync`).

use std::collections::HashMap;

use accord_core::Pdu;
use accord_db::rooms::ShortStateHash;
use ruma::{CanonicalJsonObject, OwnedEventId, RoomId, signatures::PublicKeyMap};

use crate::{
    Error, Result, Rooms,
    remote_state::{authorize_on, outlier_meta},
    versions::rules_for,
};

impl Rooms {
    /// Stores `prev` with `state_ids` as the state before it. `fetched` holds the events of the
    /// state and its auth chain not stored here yet; each is checked (signatures, hashes, auth
    /// against its auth events), and `prev` against that state. `keys` must hold the keys of
    /// every server that signed these events.
    pub async fn store_with_state(
        &self,
        room_id: &RoomId,
        prev: CanonicalJsonObject,
        state_ids: &[OwnedEventId],
        fetched: Vec<CanonicalJsonObject>,
        keys: &PublicKeyMap,
    ) -> Result<OwnedEventId> {
        let version = self.room_version(room_id)?;
        let rules = rules_for(&version)?;
        let guard = self.lock(room_id).await;
        let mut events = self.check_each_remote(&rules, room_id, fetched, keys);
        self.keep_authorised_outliers(&rules, room_id, &mut events);
        let prev = self.check_remote(&rules, room_id, prev, keys)?;
        let prev_id = prev.pdu.event_id.clone();
        if let Some(short) = self.db.get_short_event_id(&prev_id)?
            && self.state_after(short)?.is_some()
        {
            return Ok(prev_id);
        }

        // One batch: the fetched events, the state before `prev` and `prev` itself, so a crash
        // (or `prev` failing its checks) leaves nothing half stored.
        let mut batch = guard.batch();
        let shorts = self.store_outliers(&mut batch, &events)?;
        let mut entries = Vec::with_capacity(state_ids.len());
        let mut state_pdus: HashMap<(String, String), Pdu> = HashMap::new();
        for event_id in state_ids {
            let (short, pdu) = match shorts.get(event_id) {
                Some(short) => (*short, events[event_id].pdu.clone()),
                None => match (self.db.get_short_event_id(event_id)?, self.pdu_by_id(event_id)?) {
                    (Some(short), Some(pdu)) => (short, pdu),
                    // Not fetched, unverifiable or unauthorised (left out above): the state
                    // goes on without it, and `prev` is checked against what remains.
                    _ => {
                        tracing::info!(room = %room_id, event = %event_id, "a state event is left out of the state at a missing event");
                        continue;
                    }
                },
            };
            if pdu.room_id != room_id {
                return Err(Error::InvalidEvent(format!(
                    "state event {event_id} is of another room"
                )));
            }
            if let Some(key) = &pdu.state_key {
                entries.push((self.db.intern_state_key(&pdu.kind.to_string(), key)?, short));
                state_pdus.insert((pdu.kind.to_string(), key.clone()), pdu);
            }
        }
        // `prev` against that state, which exists only in this batch so far.
        let state_refs: HashMap<(String, String), &Pdu> = state_pdus.iter().map(|(k, p)| (k.clone(), p)).collect();
        authorize_on(&rules, &prev.pdu, &events, &state_refs, |id| {
            self.pdu_by_id(id).ok().flatten()
        })?;
        let before_hash: ShortStateHash = self.db.put_state_diff(&mut batch, None, entries, Vec::new())?;

        let prev_events = HashMap::from([(prev_id.clone(), prev)]);
        let short = self.store_outliers(&mut batch, &prev_events)?[&prev_id];
        let after_hash = match &prev_events[&prev_id].pdu.state_key {
            Some(key) => {
                let kind = prev_events[&prev_id].pdu.kind.to_string();
                let added = vec![(self.db.intern_state_key(&kind, key)?, short)];
                self.db
                    .put_state_diff(&mut batch, Some(before_hash), added, Vec::new())?
            }
            None => before_hash,
        };
        let mut meta = match self.db.get_short_event_id(&prev_id)? {
            Some(existing) => self.db.event_meta(existing)?,
            None => outlier_meta(&prev_id, room_id),
        };
        meta.state_after = Some(after_hash.0);
        self.db.put_event_meta(&mut batch, short, &meta);
        self.db.write_room(batch)?;
        tracing::info!(room = %room_id, event = %prev_id, state = state_ids.len(), "stored a missing event with its state");
        Ok(prev_id)
    }
}
