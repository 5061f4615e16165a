//! Events other servers send in transactions (spec: "Checks performed on receipt of a PDU"),
//! for rooms this server is in: format, event id, signatures and content hash (a mismatch keeps
//! the redacted form), the auth rules against the event's auth events and against the state
//! before it, then against the current state (soft-fail), and persistence.
//!
//! Forks are resolved: the state before an event with several prev events is the resolution of
//! their states, and when the room has other forward extremities its current state becomes the
//! resolution of theirs and the new event's. Gaps (prev events unknown here) are reported as
//! `MissingPrevEvents` for the caller to fetch them and retry.

use std::collections::HashMap;

use ruma::{CanonicalJsonObject, OwnedEventId, RoomId, events::StateEventType, signatures::PublicKeyMap, state_res};

use accord_core::Pdu;
use accord_db::rooms::{RoomBatch, StreamTicket};

use crate::{
    Error, PendingWrites, Result, RoomGuard, Rooms,
    persist::{Durability, JoinedBatch},
    state::RoomState,
    unserved::Unserved,
    versions::rules_for,
};

impl Rooms {
    /// Checks and stores one event received from `origin`, durably; returns its id.
    pub async fn accept_remote_event(
        &self,
        origin: &ruma::ServerName,
        room_id: &RoomId,
        object: CanonicalJsonObject,
        keys: &PublicKeyMap,
    ) -> Result<OwnedEventId> {
        let pending = PendingWrites::default();
        let event_id = self
            .accept_remote_event_into(origin, room_id, object, keys, &pending)
            .await?;
        self.make_durable(pending).await?;
        Ok(event_id)
    }

    /// Like [`Rooms::accept_remote_event`], but the write joins `pending`: durable (and shown
    /// to `/sync`) only once the caller makes `pending` durable.
    pub async fn accept_remote_event_into(
        &self,
        origin: &ruma::ServerName,
        room_id: &RoomId,
        object: CanonicalJsonObject,
        keys: &PublicKeyMap,
        pending: &PendingWrites,
    ) -> Result<OwnedEventId> {
        if !self.server_allowed_in_room(room_id, origin)? {
            return Err(Error::Unauthorized(format!(
                "{origin} is denied by the room's server ACL"
            )));
        }
        let guard = self.lock(room_id).await;
        // Signature checks, authorization and state resolution are CPU work: on the blocking
        // pool, holding the room's lock, so the async workers keep serving other requests.
        let (this, room, keys) = (self.clone(), room_id.to_owned(), keys.clone());
        let (event_id, ticket) =
            tokio::task::spawn_blocking(move || this.accept_under_lock(&guard, &room, object, &keys))
                .await
                .map_err(|err| Error::Internal(format!("event check task failed: {err}")))??;
        pending.add(ticket);
        Ok(event_id)
    }

    /// Checks and stores one remote event of the locked room; returns its id and the stream
    /// position to release once durable (none when it was known, rejected or soft-failed).
    fn accept_under_lock(
        &self,
        guard: &RoomGuard,
        room_id: &RoomId,
        object: CanonicalJsonObject,
        keys: &PublicKeyMap,
    ) -> Result<(OwnedEventId, Option<StreamTicket>)> {
        let current = self.current_state(room_id)?;
        let rules = rules_for(&current.version)?;
        crate::pdu_format::check_received_pdu_format(&object, &rules.event_format).map_err(Error::InvalidEvent)?;
        let checked = self.check_remote(&rules, room_id, object, keys)?;
        let pdu = &checked.pdu;
        // Servers relay others' events (gaps, backfill); the sender's own server signed it
        // (checked above), and it must be admitted by the room's ACL too.
        if !self.server_allowed_in_room(room_id, pdu.sender.server_name())? {
            return Err(Error::Unauthorized(format!(
                "{} is denied by the room's server ACL",
                pdu.sender.server_name()
            )));
        }
        if let Some(short) = self.db.get_short_event_id(&pdu.event_id)? {
            let meta = self.db.event_meta(short)?;
            if meta.rejected {
                return Err(Error::Unauthorized(format!("{} was rejected before", pdu.event_id)));
            }
            return Ok((pdu.event_id.clone(), None));
        }
        // Everything this event writes, the resolved state before it included, in one batch.
        let mut batch = guard.batch();
        let (before, after_gap) = self.state_before_remote(&mut batch, &rules, pdu)?;
        // Against its own auth events and the state before it: a failure rejects the event.
        if let Err(err) = self.check_at_its_place(&rules, pdu, &before) {
            self.store_unserved(batch, pdu, checked.json, &before, Unserved::Rejected)?;
            return Err(err);
        }
        // Against the current state: a failure soft-fails it (stored, never shown, not built on).
        if before.hash != current.hash
            && let Err(err) = self.authorize(&rules, pdu, &current)
        {
            tracing::info!(event = %pdu.event_id, %err, "soft-failed against the current state");
            self.store_unserved(batch, pdu, checked.json, &before, Unserved::SoftFailed)?;
            return Ok((pdu.event_id.clone(), None));
        }
        let event_id = pdu.event_id.clone();
        let joined = JoinedBatch::plain(batch).after_gap(after_gap);
        // The room's other forward extremities: when there are any, the current state becomes
        // the resolution of their states and the state after this event.
        let others: Vec<OwnedEventId> = self
            .db
            .extremities(room_id)?
            .into_iter()
            .filter(|e| !pdu.prev_events.contains(e) && *e != pdu.event_id)
            .collect();
        if others.is_empty() {
            let ticket = self.append(joined, pdu, checked.json, Some(&before), None, Durability::Deferred)?;
            return Ok((event_id, ticket));
        }
        let mut states = Vec::with_capacity(others.len() + 1);
        for other in &others {
            if let Some(short) = self.db.get_short_event_id(other)?
                && let Some(state) = self.state_after(short)?
            {
                states.push(self.id_state_map(&state.map)?);
            }
        }
        let mut after = self.id_state_map(&before.map)?;
        if let Some(state_key) = &pdu.state_key {
            after.insert((pdu.kind.to_string().into(), state_key.clone()), pdu.event_id.clone());
        }
        states.push(after);
        let resolved = self.resolve_states(&rules, &states, Some(pdu))?;
        let ticket = self.append_with_current(joined, pdu, checked.json, &before, &resolved, Durability::Deferred)?;
        Ok((event_id, ticket))
    }

    /// The authorization rules against the event's own auth events, then against the state
    /// before it.
    fn check_at_its_place(
        &self,
        rules: &ruma::room_version_rules::RoomVersionRules,
        pdu: &Pdu,
        before: &RoomState,
    ) -> Result<()> {
        state_res::check_state_independent_auth_rules(&rules.authorization, pdu, |id: &ruma::EventId| {
            self.pdu_by_id(id).ok().flatten()
        })
        .map_err(Error::Unauthorized)?;
        let mut auth_state = HashMap::new();
        for id in &pdu.auth_events {
            if let Some(auth) = self.pdu_by_id(id)?
                && let Some(key) = &auth.state_key
            {
                auth_state.insert((auth.kind.to_string(), key.clone()), auth);
            }
        }
        state_res::check_state_dependent_auth_rules(&rules.authorization, pdu, |kind: &StateEventType, key: &str| {
            auth_state
                .get(&(kind.to_string(), key.to_owned()))
                .cloned()
                .or_else(|| self.state_event(before, kind, key).ok().flatten())
        })
        .map_err(Error::Unauthorized)?;
        self.authorize(rules, pdu, before)
    }

    /// The state before a remote event: the state after its prev event, or the resolution of
    /// the states after its prev events (a snapshot queued in `batch`, the event's own).
    /// Prev events unknown here, or known only as outliers without state, are
    /// `MissingPrevEvents`. The flag says whether a prev event is an outlier with state
    /// (stored with the state fetched at it, because the events before it could not be): the
    /// timeline then skips from whatever precedes it to this event. Rejected and soft-failed
    /// prev events are off the timeline by choice, not a hole in what this server knows.
    fn state_before_remote(
        &self,
        batch: &mut RoomBatch<'_>,
        rules: &ruma::room_version_rules::RoomVersionRules,
        pdu: &Pdu,
    ) -> Result<(RoomState, bool)> {
        let mut missing = Vec::new();
        let mut states = Vec::with_capacity(pdu.prev_events.len());
        let mut after_gap = false;
        for prev in &pdu.prev_events {
            let meta = match self.db.get_short_event_id(prev)? {
                Some(short) => self.db.event_meta(short)?,
                None => {
                    missing.push(prev.clone());
                    continue;
                }
            };
            match self.state_after_meta(&meta)? {
                Some(state) => {
                    after_gap |= meta.count.is_none() && !meta.rejected && !meta.soft_failed;
                    states.push(state);
                }
                None => missing.push(prev.clone()),
            }
        }
        if !missing.is_empty() {
            return Err(Error::MissingPrevEvents(missing));
        }
        let Some(first) = states.first() else {
            return Err(Error::InvalidEvent("an event without prev events".to_owned()));
        };
        if states.iter().all(|s| s.hash == first.hash) {
            return Ok((first.clone(), after_gap));
        }
        let resolved = self.resolve_snapshots(rules, &states)?;
        let (added, removed) = crate::resolve::diff(&first.map, &resolved);
        let hash = self.db.put_state_diff(batch, Some(first.hash), added, removed)?;
        let state = RoomState {
            hash,
            version: first.version.clone(),
            map: resolved.into(),
        };
        Ok((state, after_gap))
    }
}
