//! Joining a room hosted elsewhere: the state and auth chain a resident server returned from
//! `send_join` are checked (signatures and content hashes, each event against its auth events)
//! and stored as outliers; the room's state becomes that state; our join follows it. The
//! outlier checks are shared with learning the state at a missing event (`missing_state.rs`).

use ruma::events::room::member::MembershipState;
use std::collections::HashMap;

use accord_core::Pdu;
use accord_db::rooms::{EventMeta, RoomBatch, ShortEventId, ShortStateHash};
use ruma::{
    CanonicalJsonObject, OwnedEventId, RoomId, RoomVersionId,
    canonical_json::redact,
    events::StateEventType,
    room_version_rules::RoomVersionRules,
    signatures::{PublicKeyMap, Verified, verify_event},
    state_res,
};

use crate::{Error, Result, Rooms, persist::Durability, versions::rules_for};

/// A checked event from another server.
pub(crate) struct Checked {
    pub(crate) pdu: Pdu,
    pub(crate) json: CanonicalJsonObject,
}

impl Rooms {
    /// Checks one remote event: event id, signatures (a content hash mismatch means the
    /// redacted form is kept, as the spec says), parse.
    pub(crate) fn check_remote(
        &self,
        rules: &RoomVersionRules,
        room_id: &RoomId,
        json: CanonicalJsonObject,
        keys: &PublicKeyMap,
    ) -> Result<Checked> {
        let event_id = crate::build::event_id_of(&json, rules)?;
        let json = match verify_event(keys, &json, rules) {
            Ok(Verified::All) => json,
            Ok(Verified::Signatures) => {
                redact(json, &rules.redaction, None).map_err(|err| Error::InvalidEvent(err.to_string()))?
            }
            Err(err) => return Err(Error::Unauthorized(format!("event {event_id} does not verify: {err}"))),
        };
        let pdu = Pdu::from_canonical(event_id, room_id, &json).map_err(|err| Error::InvalidEvent(err.to_string()))?;
        Ok(Checked { pdu, json })
    }

    /// Stores the room's state and auth chain from a resident server, then our signed join on
    /// top of it. `keys` must hold the keys of every server that signed these events. The join
    /// is queued for the room's other servers, not for `joined_through`: it has the join from
    /// `send_join` and passes it on itself.
    #[allow(clippy::too_many_arguments)]
    pub async fn join_remote_room(
        &self,
        room_id: &RoomId,
        version: &RoomVersionId,
        join: CanonicalJsonObject,
        state: Vec<CanonicalJsonObject>,
        auth_chain: Vec<CanonicalJsonObject>,
        keys: &PublicKeyMap,
        joined_through: &ruma::ServerName,
    ) -> Result<OwnedEventId> {
        let rules = rules_for(version)?;
        let guard = self.lock(room_id).await;
        // Hundreds of signature checks: on the blocking pool, not the async workers.
        let (this, room, keys) = (self.clone(), room_id.to_owned(), keys.clone());
        let (events, state_ids, join) =
            tokio::task::spawn_blocking(move || this.check_join_answer(&rules, &room, join, state, auth_chain, &keys))
                .await
                .map_err(|err| Error::Internal(format!("join check task failed: {err}")))??;

        // One batch: the state, its events as outliers, the memberships and our join on top,
        // so a crash leaves the join wholly there or wholly absent.
        let mut batch = guard.batch();
        let shorts = self.store_outliers(&mut batch, &events)?;
        let mut entries = Vec::new();
        let mut destinations = std::collections::BTreeSet::new();
        for event_id in &state_ids {
            let pdu = &events[event_id].pdu;
            // Memberships from the returned state, so this server knows who is in the room
            // (and which servers to send to).
            if let Some((user, membership)) = pdu.member_change() {
                if matches!(membership, MembershipState::Join | MembershipState::Invite)
                    && user.server_name() != self.identity.server_name
                    && user.server_name() != joined_through
                {
                    destinations.insert(user.server_name().to_owned());
                }
                let record = accord_db::rooms::MembershipRecord {
                    membership,
                    count: 0,
                    forgotten: false,
                };
                self.db.put_membership(&mut batch, &user, &record);
            }
            if let (Some(key), Some(short)) = (&pdu.state_key, shorts.get(event_id)) {
                entries.push((self.db.intern_state_key(&pdu.kind.to_string(), key)?, *short));
            }
        }
        let join_short = ShortEventId(self.db.next_short_id());
        let join_key = match &join.pdu.state_key {
            Some(key) => self.db.intern_state_key(&join.pdu.kind.to_string(), key)?,
            None => return Err(Error::InvalidEvent("a join must be a state event".to_owned())),
        };
        entries.retain(|(key, _)| *key != join_key);
        entries.push((join_key, join_short));
        // The state after the join is a snapshot of its own: the state before it exists only in
        // this batch, so it can't be a parent read back from the database.
        let state_after: ShortStateHash = self.db.put_state_diff(&mut batch, None, entries, Vec::new())?;
        // Rejoining: whatever this server had of the room before is superseded.
        let stale = self.db.extremities(room_id)?;
        self.db.replace_extremities(&mut batch, &stale, &join.pdu.event_id)?;
        let joined = crate::persist::JoinedBatch {
            batch,
            short: Some(join_short),
            state_after: Some(state_after),
            destinations: Some(destinations.into_iter().collect()),
            // A rejoin: what this server holds of the room ends where it left, and the room
            // went on without it until this join.
            gap_before: !stale.is_empty(),
        };
        let join_id = join.pdu.event_id.clone();
        self.commit_in(
            &join.pdu,
            join.json,
            None,
            None,
            joined,
            version,
            Durability::Synced,
            None,
        )?;
        Ok(join_id)
    }

    /// Checks what a resident server answered to `send_join`: every event's signatures and
    /// hash, each against its auth events, and our join against the returned state. Returns
    /// the events by id, the state's ids, and the checked join.
    #[allow(clippy::type_complexity)]
    fn check_join_answer(
        &self,
        rules: &RoomVersionRules,
        room_id: &RoomId,
        join: CanonicalJsonObject,
        state: Vec<CanonicalJsonObject>,
        auth_chain: Vec<CanonicalJsonObject>,
        keys: &PublicKeyMap,
    ) -> Result<(HashMap<OwnedEventId, Checked>, Vec<OwnedEventId>, Checked)> {
        let mut events = self.check_each_remote(rules, room_id, auth_chain, keys);
        let state = self.check_each_remote(rules, room_id, state, keys);
        let mut state_ids: Vec<OwnedEventId> = state.keys().cloned().collect();
        events.extend(state);
        self.keep_authorised_outliers(rules, room_id, &mut events);
        state_ids.retain(|id| events.contains_key(id));
        let join = self.check_remote(rules, room_id, join, keys)?;
        let state_events: HashMap<(String, String), &Pdu> = state_ids
            .iter()
            .map(|id| &events[id].pdu)
            .filter_map(|pdu| pdu.state_key.clone().map(|key| ((pdu.kind.to_string(), key), pdu)))
            .collect();
        authorize_on(rules, &join.pdu, &events, &state_events, |id| {
            self.pdu_by_id(id).ok().flatten()
        })?;
        Ok((events, state_ids, join))
    }

    /// Checks each of `jsons` ([`Rooms::check_remote`]), leaving out (and logging) those that
    /// fail: another server's answer may carry events whose signatures can't be verified, and
    /// the rest is still usable (Complement's TestJoinFederatedRoomWithUnverifiableEvents;
    /// Synapse drops such events too).
    pub(crate) fn check_each_remote(
        &self,
        rules: &RoomVersionRules,
        room_id: &RoomId,
        jsons: Vec<CanonicalJsonObject>,
        keys: &PublicKeyMap,
    ) -> HashMap<OwnedEventId, Checked> {
        let mut events = HashMap::with_capacity(jsons.len());
        for json in jsons {
            match self.check_remote(rules, room_id, json, keys) {
                Ok(checked) => {
                    events.insert(checked.pdu.event_id.clone(), checked);
                }
                Err(err) => tracing::info!(room = %room_id, %err, "a fetched event is left out"),
            }
        }
        events
    }

    /// Keeps in `events` only those that pass the authorization rules against their own auth
    /// events, and whose auth events are all kept (or stored here): an event failing them, or
    /// built on one that was left out (unverifiable, unfetchable), is left out with everything
    /// built on it. Whatever the room needs from the rest is then checked by its user (a join
    /// against the state, an event against the state before it), which fails if too much went.
    pub(crate) fn keep_authorised_outliers(
        &self,
        rules: &RoomVersionRules,
        room_id: &RoomId,
        events: &mut HashMap<OwnedEventId, Checked>,
    ) {
        // From room version 12 the create event's id is the room id, and auth events no
        // longer list it.
        let create_id = rules
            .authorization
            .room_create_event_id_as_room_id
            .then(|| OwnedEventId::try_from(format!("${}", room_id.as_str().trim_start_matches('!'))).ok())
            .flatten();
        let dropped: Vec<OwnedEventId> = events
            .values()
            .filter_map(
                |checked| match self.check_outlier(rules, create_id.as_ref(), events, checked) {
                    Ok(()) => None,
                    Err(err) => {
                        tracing::info!(room = %room_id, %err, "an event fails its auth events and is left out");
                        Some(checked.pdu.event_id.clone())
                    }
                },
            )
            .collect();
        // Whatever cites a left-out event as an auth event goes too, transitively.
        for id in &dropped {
            events.remove(id);
        }
        let mut queue = dropped;
        while let Some(gone) = queue.pop() {
            let dependents: Vec<OwnedEventId> = events
                .values()
                .filter(|checked| checked.pdu.auth_events.contains(&gone))
                .map(|checked| checked.pdu.event_id.clone())
                .collect();
            for id in dependents {
                events.remove(&id);
                queue.push(id);
            }
        }
    }

    /// The authorization rules for one event against its own auth events (plus `create_id`,
    /// the create event in room version 12); auth events come from `events` or, when stored
    /// here already, from the database.
    fn check_outlier(
        &self,
        rules: &RoomVersionRules,
        create_id: Option<&OwnedEventId>,
        events: &HashMap<OwnedEventId, Checked>,
        checked: &Checked,
    ) -> Result<()> {
        let lookup = |id: &ruma::EventId| -> Option<Pdu> {
            events
                .get(id)
                .map(|c| c.pdu.clone())
                .or_else(|| self.pdu_by_id(id).ok().flatten())
        };
        let pdu = &checked.pdu;
        state_res::check_state_independent_auth_rules(&rules.authorization, pdu, |id: &ruma::EventId| lookup(id))
            .map_err(|reason| Error::Unauthorized(format!("{} ({}): {reason}", pdu.event_id, pdu.kind)))?;
        let auth_state: HashMap<(String, String), Pdu> = pdu
            .auth_events
            .iter()
            .chain(create_id)
            .filter_map(|id| lookup(id))
            .filter_map(|p| p.state_key.clone().map(|k| ((p.kind.to_string(), k), p)))
            .collect();
        state_res::check_state_dependent_auth_rules(&rules.authorization, pdu, |kind: &StateEventType, key: &str| {
            auth_state.get(&(kind.to_string(), key.to_owned())).cloned()
        })
        .map_err(|reason| Error::Unauthorized(format!("{} ({}): {reason}", pdu.event_id, pdu.kind)))
    }

    /// Queues storing `events` as outliers (stored, not in the timeline, no state); returns
    /// every event's short id, new or already known.
    pub(crate) fn store_outliers(
        &self,
        batch: &mut RoomBatch<'_>,
        events: &HashMap<OwnedEventId, Checked>,
    ) -> Result<HashMap<OwnedEventId, ShortEventId>> {
        let mut shorts = HashMap::new();
        for (event_id, checked) in events {
            let short = match self.db.get_short_event_id(event_id)? {
                Some(short) => short,
                None => {
                    let short = ShortEventId(self.db.next_short_id());
                    self.db.put_short_event_id(batch, event_id, short);
                    let canonical =
                        serde_json::to_vec(&checked.json).map_err(|err| Error::InvalidEvent(err.to_string()))?;
                    self.db.put_pdu_json(batch, short, canonical);
                    let meta = outlier_meta(event_id, batch.room_id());
                    self.db.put_event_meta(batch, short, &meta);
                    short
                }
            };
            shorts.insert(event_id.clone(), short);
        }
        Ok(shorts)
    }
}

/// The meta of an event stored outside the timeline, without state.
pub(crate) fn outlier_meta(event_id: &ruma::EventId, room_id: &RoomId) -> EventMeta {
    EventMeta {
        event_id: event_id.to_owned(),
        room_id: room_id.to_owned(),
        count: None,
        state_after: None,
        rejected: false,
        soft_failed: false,
        redacted_by: None,
        txn: None,
        gap_before: false,
    }
}

/// Both halves of the authorization rules for `pdu` against `state` (the state before it, not
/// stored yet); auth events come from `events` or `stored`.
pub(crate) fn authorize_on(
    rules: &RoomVersionRules,
    pdu: &Pdu,
    events: &HashMap<OwnedEventId, Checked>,
    state: &HashMap<(String, String), &Pdu>,
    stored: impl Fn(&ruma::EventId) -> Option<Pdu>,
) -> Result<()> {
    state_res::check_state_independent_auth_rules(&rules.authorization, pdu, |id: &ruma::EventId| {
        events.get(id).map(|c| c.pdu.clone()).or_else(|| stored(id))
    })
    .map_err(Error::Unauthorized)?;
    state_res::check_state_dependent_auth_rules(&rules.authorization, pdu, |kind: &StateEventType, key: &str| {
        state.get(&(kind.to_string(), key.to_owned())).map(|pdu| (*pdu).clone())
    })
    .map_err(Error::Unauthorized)
}
