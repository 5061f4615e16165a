//! What other servers may read of a room's history (spec: server-server API "Retrieving
//! events", "Backfilling and retrieving missing events"): single events, the state at an event
//! with its auth chain, an event's auth chain, events between extremities, and backfill. Each
//! answer is limited to servers allowed to see the room (ACL, membership, history visibility).

use ruma::events::room::member::MembershipState;
use std::collections::{BTreeSet, HashSet, VecDeque};

use ruma::{
    CanonicalJsonObject, EventId, OwnedEventId, RoomId, ServerName, canonical_json::redact, events::StateEventType,
};

use accord_db::rooms::ShortEventId;

use crate::{Error, Result, Rooms, state::RoomState, versions::rules_for};

/// Most events one `/backfill` or `/get_missing_events` answer carries.
pub const MAX_HISTORY_EVENTS: usize = 100;

impl Rooms {
    /// Whether `server` may read `event_id` of `room_id`: the room's ACL admits it, and either
    /// the history is world-readable at the event, or one of its users is joined now or was
    /// joined (or invited, with `invited` visibility; any member, with `shared`) at the event.
    pub fn server_may_see(&self, server: &ServerName, room_id: &RoomId, event_id: &EventId) -> Result<bool> {
        if !self.server_allowed_in_room(room_id, server)? {
            return Ok(false);
        }
        let Some(short) = self.db.get_short_event_id(event_id)? else {
            return Ok(false);
        };
        if self.db.event_meta(short)?.room_id != room_id {
            return Ok(false);
        }
        if self
            .remote_servers(room_id, &[MembershipState::Join])?
            .iter()
            .any(|s| s == server)
        {
            return Ok(true);
        }
        self.history_visible_to_server(server, short)
    }

    /// Whether the room's history visibility at the event lets `server` see it: always for
    /// `world_readable` and `shared` history (Synapse's rule for servers, which Complement's
    /// TestInboundCanReturnMissingEvents follows), for `invited` history when one of its users
    /// was invited or joined at the event, for `joined` history when one was joined.
    pub fn history_visible_to_server(&self, server: &ServerName, short: ShortEventId) -> Result<bool> {
        let Some(state) = self.state_after(short)? else {
            return Ok(false);
        };
        let visibility = self
            .state_event(&state, &StateEventType::RoomHistoryVisibility, "")?
            .and_then(|pdu| {
                pdu.content_value()
                    .get("history_visibility")
                    .and_then(|v| v.as_str())
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| "shared".to_owned());
        let admitted: &[MembershipState] = match visibility.as_str() {
            "invited" => &[MembershipState::Join, MembershipState::Invite],
            "joined" => &[MembershipState::Join],
            _ => return Ok(true),
        };
        for pdu in self.state_events(&state)? {
            if pdu.kind != ruma::events::TimelineEventType::RoomMember {
                continue;
            }
            let member_server = pdu
                .state_key
                .as_deref()
                .and_then(|key| ruma::UserId::parse(key).ok())
                .map(|user| user.server_name() == server)
                .unwrap_or(false);
            let membership = pdu.membership();
            if member_server && membership.is_some_and(|m| admitted.contains(&m)) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// A stored event as other servers get it: as signed, or in its redacted form once redacted.
    pub fn federation_event(&self, event_id: &EventId) -> Result<Option<CanonicalJsonObject>> {
        let Some(short) = self.db.get_short_event_id(event_id)? else {
            return Ok(None);
        };
        let Some(json) = self.db.get_pdu_json(short)? else {
            return Ok(None);
        };
        let meta = self.db.event_meta(short)?;
        if meta.redacted_by.is_none() {
            return Ok(Some(json));
        }
        let rules = rules_for(&self.room_version(&meta.room_id)?)?;
        redact(json, &rules.redaction, None)
            .map(Some)
            .map_err(|err| Error::InvalidEvent(err.to_string()))
    }

    /// The room's state before `event_id` (what `/state` and `/state_ids` describe).
    pub fn state_before_event(&self, event_id: &EventId) -> Result<RoomState> {
        let pdu = self
            .pdu_by_id(event_id)?
            .ok_or_else(|| Error::RoomNotFound(format!("event {event_id}")))?;
        let short = self
            .db
            .get_short_event_id(event_id)?
            .ok_or_else(|| Error::RoomNotFound(format!("event {event_id}")))?;
        let after = self
            .state_after(short)?
            .ok_or_else(|| Error::InvalidEvent(format!("no state is known at {event_id}")))?;
        if pdu.state_key.is_none() {
            return Ok(after);
        }
        let rules = rules_for(&after.version)?;
        let mut prev_states = Vec::new();
        for prev in &pdu.prev_events {
            if let Some(prev_short) = self.db.get_short_event_id(prev)?
                && let Some(state) = self.state_after(prev_short)?
            {
                prev_states.push(state);
            }
        }
        match prev_states.as_slice() {
            [] => Ok(RoomState {
                // The create event: nothing came before it.
                hash: after.hash,
                version: after.version.clone(),
                map: std::sync::Arc::new(Default::default()),
            }),
            [only] => Ok(only.clone()),
            several => Ok(RoomState {
                hash: after.hash,
                version: after.version.clone(),
                map: std::sync::Arc::new(self.resolve_snapshots(&rules, several)?),
            }),
        }
    }

    /// Event ids of the state before `event_id` and of its auth chain.
    pub fn state_ids_at(&self, event_id: &EventId) -> Result<(Vec<OwnedEventId>, Vec<OwnedEventId>)> {
        let state = self.state_before_event(event_id)?;
        let pdu_ids = self.state_event_ids(&state)?;
        let auth_chain_ids = self.auth_chain_of(pdu_ids.iter().cloned())?;
        Ok((pdu_ids, auth_chain_ids))
    }

    /// Every event reachable through `auth_events` from `start` (not `start` itself).
    pub fn auth_chain_of(&self, start: impl Iterator<Item = OwnedEventId>) -> Result<Vec<OwnedEventId>> {
        let mut seen: BTreeSet<OwnedEventId> = BTreeSet::new();
        let mut queue: VecDeque<OwnedEventId> = VecDeque::new();
        for id in start {
            if let Some(pdu) = self.pdu_by_id(&id)? {
                queue.extend(pdu.auth_events);
            }
        }
        while let Some(id) = queue.pop_front() {
            if seen.contains(&id) {
                continue;
            }
            if let Some(pdu) = self.pdu_by_id(&id)? {
                queue.extend(pdu.auth_events.iter().filter(|a| !seen.contains(*a)).cloned());
                seen.insert(id);
            }
        }
        Ok(seen.into_iter().collect())
    }

    /// Events before `latest` (walking prev events, newest first) that are not `earliest` nor
    /// before them, at least `min_depth` deep; at most `limit`.
    pub fn missing_events(
        &self,
        room_id: &RoomId,
        earliest: &[OwnedEventId],
        latest: &[OwnedEventId],
        limit: usize,
        min_depth: u64,
    ) -> Result<Vec<OwnedEventId>> {
        let stop: HashSet<&EventId> = earliest.iter().map(|e| &**e).collect();
        let mut seen: HashSet<OwnedEventId> = latest.iter().cloned().collect();
        let mut queue: VecDeque<OwnedEventId> = VecDeque::new();
        for id in latest {
            if let Some(pdu) = self.pdu_by_id(id)? {
                queue.extend(pdu.prev_events);
            }
        }
        let mut found = Vec::new();
        while let Some(id) = queue.pop_front() {
            if found.len() >= limit.min(MAX_HISTORY_EVENTS) {
                break;
            }
            if stop.contains(&*id) || !seen.insert(id.clone()) {
                continue;
            }
            let Some(pdu) = self.pdu_by_id(&id)? else { continue };
            if pdu.room_id != room_id || u64::from(pdu.depth) < min_depth {
                continue;
            }
            queue.extend(pdu.prev_events.iter().cloned());
            found.push(id);
        }
        Ok(found)
    }

    /// Backfill: `from` and the events before them, breadth first, at most `limit`.
    pub fn backfill_events(&self, room_id: &RoomId, from: &[OwnedEventId], limit: usize) -> Result<Vec<OwnedEventId>> {
        let mut seen: HashSet<OwnedEventId> = HashSet::new();
        let mut queue: VecDeque<OwnedEventId> = from.iter().cloned().collect();
        let mut found = Vec::new();
        while let Some(id) = queue.pop_front() {
            if found.len() >= limit.min(MAX_HISTORY_EVENTS) {
                break;
            }
            if !seen.insert(id.clone()) {
                continue;
            }
            let Some(pdu) = self.pdu_by_id(&id)? else { continue };
            if pdu.room_id != room_id {
                continue;
            }
            queue.extend(pdu.prev_events.iter().cloned());
            found.push(id);
        }
        Ok(found)
    }
}
