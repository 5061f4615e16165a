//! State resolution across forks (spec: room versions 2+, "State resolution"; v2.1 from room
//! version 12 adds the conflicted state subgraph), through ruma-state-res.
//!
//! Snapshots are maps of short ids; resolution works on event ids, so maps are translated at
//! the edges. An event not stored yet (the one being accepted) can take part through `pending`.

use std::collections::{HashMap, HashSet};

use accord_core::Pdu;
use accord_db::rooms::{ShortEventId, ShortStateKey, StateMap as ShortStateMap};
use ruma::{
    EventId, OwnedEventId,
    events::StateEventType,
    room_version_rules::{RoomVersionRules, StateResolutionVersion},
    state_res::{self, StateMap, utils::event_id_set::EventIdSet},
};

use crate::{Error, Result, Rooms, state::RoomState};

/// A state map keyed by `(type, state_key)`, holding event ids.
pub(crate) type IdStateMap = StateMap<OwnedEventId>;

impl Rooms {
    /// A snapshot as a map of event ids.
    pub(crate) fn id_state_map(&self, map: &ShortStateMap) -> Result<IdStateMap> {
        let mut out = HashMap::with_capacity(map.len());
        for (key, short) in map {
            let (kind, state_key) = self.db.state_key_of(*key)?;
            out.insert((StateEventType::from(kind), state_key), self.db.event_id_of(*short)?);
        }
        Ok(out)
    }

    /// A map of event ids as short ids; `pending` (not stored yet) maps to `pending_short`.
    pub(crate) fn short_state_map(
        &self,
        map: &IdStateMap,
        pending: Option<(&EventId, ShortEventId)>,
    ) -> Result<ShortStateMap> {
        let mut out = HashMap::with_capacity(map.len());
        for ((kind, state_key), event_id) in map {
            let short = match pending {
                Some((id, short)) if id == event_id => short,
                _ => self
                    .db
                    .get_short_event_id(event_id)?
                    .ok_or_else(|| Error::InvalidEvent(format!("resolved state names unknown event {event_id}")))?,
            };
            out.insert(self.db.intern_state_key(&kind.to_string(), state_key)?, short);
        }
        Ok(out)
    }

    /// Resolves `states` into one, by the room version's algorithm. `pending` is an event that
    /// some of the states contain but that is not stored yet.
    pub(crate) fn resolve_states(
        &self,
        rules: &RoomVersionRules,
        states: &[IdStateMap],
        pending: Option<&Pdu>,
    ) -> Result<IdStateMap> {
        if let [only] = states {
            return Ok(only.clone());
        }
        let StateResolutionVersion::V2(v2_rules) = &rules.state_res else {
            return Err(Error::InvalidEvent(
                "state resolution for room versions 1 is not supported".to_owned(),
            ));
        };
        let fetch = |id: &EventId| -> Option<Pdu> {
            match pending {
                Some(pdu) if pdu.event_id == id => Some(pdu.clone()),
                _ => self.pdu_by_id(id).ok().flatten(),
            }
        };
        let mut auth_chains = Vec::with_capacity(states.len());
        for state in states {
            auth_chains.push(self.auth_chain_ids(state.values().cloned(), &fetch));
        }
        let subgraph = |conflicted: &StateMap<Vec<OwnedEventId>>| -> Option<EventIdSet<OwnedEventId>> {
            Some(conflicted_subgraph(
                conflicted.values().flatten().cloned().collect(),
                &fetch,
            ))
        };
        state_res::resolve(&rules.authorization, v2_rules, states, auth_chains, fetch, subgraph)
            .map_err(|err| Error::InvalidEvent(format!("state resolution failed: {err}")))
    }

    /// The resolution of several stored snapshots, as short ids.
    pub(crate) fn resolve_snapshots(&self, rules: &RoomVersionRules, states: &[RoomState]) -> Result<ShortStateMap> {
        let maps = states
            .iter()
            .map(|s| self.id_state_map(&s.map))
            .collect::<Result<Vec<_>>>()?;
        self.short_state_map(&self.resolve_states(rules, &maps, None)?, None)
    }

    /// Every event reachable through `auth_events` from `start` (not including `start`).
    fn auth_chain_ids(
        &self,
        start: impl Iterator<Item = OwnedEventId>,
        fetch: &impl Fn(&EventId) -> Option<Pdu>,
    ) -> EventIdSet<OwnedEventId> {
        let mut chain = EventIdSet::new();
        let mut stack: Vec<OwnedEventId> = start
            .filter_map(|id| fetch(&id))
            .flat_map(|pdu| pdu.auth_events)
            .collect();
        while let Some(id) = stack.pop() {
            if chain.contains(&id) {
                continue;
            }
            if let Some(pdu) = fetch(&id) {
                stack.extend(pdu.auth_events.iter().filter(|a| !chain.contains(a)).cloned());
            }
            chain.insert(id);
        }
        chain
    }
}

/// The conflicted state subgraph (room version 12): every event on an `auth_events` path from
/// one conflicted event to another, endpoints included.
fn conflicted_subgraph(
    conflicted: HashSet<OwnedEventId>,
    fetch: &impl Fn(&EventId) -> Option<Pdu>,
) -> EventIdSet<OwnedEventId> {
    // Events reachable from the conflicted set, with their auth events.
    let mut edges: HashMap<OwnedEventId, Vec<OwnedEventId>> = HashMap::new();
    let mut stack: Vec<OwnedEventId> = conflicted.iter().cloned().collect();
    while let Some(id) = stack.pop() {
        if edges.contains_key(&id) {
            continue;
        }
        let auth = fetch(&id).map(|pdu| pdu.auth_events).unwrap_or_default();
        stack.extend(auth.iter().filter(|a| !edges.contains_key(*a)).cloned());
        edges.insert(id, auth);
    }
    // Which of them lead back to a conflicted event (memoized depth-first search).
    let mut leads: HashMap<OwnedEventId, bool> = HashMap::new();
    for start in edges.keys() {
        reaches_conflicted(start, &edges, &conflicted, &mut leads);
    }
    let mut subgraph = EventIdSet::new();
    for (id, leads_back) in leads {
        if leads_back {
            subgraph.insert(id);
        }
    }
    subgraph
}

/// Whether a conflicted event is reachable from `start` (itself included), iteratively.
fn reaches_conflicted(
    start: &OwnedEventId,
    edges: &HashMap<OwnedEventId, Vec<OwnedEventId>>,
    conflicted: &HashSet<OwnedEventId>,
    leads: &mut HashMap<OwnedEventId, bool>,
) -> bool {
    if let Some(known) = leads.get(start) {
        return *known;
    }
    // Post-order traversal: an event is decided once all its auth events are.
    let mut stack = vec![(start.clone(), false)];
    while let Some((id, expanded)) = stack.pop() {
        if leads.contains_key(&id) {
            continue;
        }
        let auth = edges.get(&id).map(Vec::as_slice).unwrap_or_default();
        if expanded {
            let result = conflicted.contains(&id) || auth.iter().any(|a| leads.get(a).copied().unwrap_or(false));
            leads.insert(id, result);
        } else {
            stack.push((id.clone(), true));
            for a in auth {
                if !leads.contains_key(a) {
                    stack.push((a.clone(), false));
                }
            }
        }
    }
    leads.get(start).copied().unwrap_or(false)
}

/// The changes turning `base` into `target`: entries to add or replace, keys to remove.
pub(crate) fn diff(
    base: &ShortStateMap,
    target: &ShortStateMap,
) -> (Vec<(ShortStateKey, ShortEventId)>, Vec<ShortStateKey>) {
    let added = target
        .iter()
        .filter(|(key, event)| base.get(key) != Some(event))
        .map(|(key, event)| (*key, *event))
        .collect();
    let removed = base.keys().filter(|key| !target.contains_key(key)).copied().collect();
    (added, removed)
}
