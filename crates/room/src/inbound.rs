//! Events other servers send in transactions (spec: "Checks performed on receipt of a PDU"),
//! for rooms this server is in: format, event id, signatures and content hash (a mismatch keeps
//! the redacted form), the auth rules against the event's auth events and against the state
//! before it, then against the current state (soft-fail), and persistence.
//!
//! Handled so far: events whose prev events are all known, with one prev event (linear
//! history). Forks (several prev events: state resolution) and gaps (missing prev events:
//! `/get_missing_events`) are refused with a reason, for the sender to retry later.

use std::collections::HashMap;

use ruma::{CanonicalJsonObject, OwnedEventId, RoomId, events::StateEventType, signatures::PublicKeyMap, state_res};

use crate::{Error, Result, Rooms, persist::Durability, versions::rules_for};

impl Rooms {
    /// Checks and stores one event received from `origin`; returns its id.
    pub async fn accept_remote_event(
        &self,
        origin: &ruma::ServerName,
        room_id: &RoomId,
        object: CanonicalJsonObject,
        keys: &PublicKeyMap,
    ) -> Result<OwnedEventId> {
        if !self.server_allowed_in_room(room_id, origin)? {
            return Err(Error::Unauthorized(format!(
                "{origin} is denied by the room's server ACL"
            )));
        }
        let guard = self.lock(room_id).await;
        let current = self.current_state(room_id)?;
        let rules = rules_for(&current.version)?;
        state_res::check_pdu_format(&object, &rules.event_format).map_err(Error::InvalidEvent)?;
        let checked = self.check_remote(&rules, room_id, object, keys)?;
        let pdu = &checked.pdu;
        if pdu.sender.server_name() != origin && pdu.kind != ruma::events::TimelineEventType::RoomMember {
            return Err(Error::Unauthorized(format!(
                "{} did not originate at {origin}",
                pdu.event_id
            )));
        }
        if self.db.get_short_event_id(&pdu.event_id)?.is_some() {
            return Ok(pdu.event_id.clone());
        }
        let [prev] = pdu.prev_events.as_slice() else {
            return Err(Error::InvalidEvent(
                "events with several prev events need state resolution, not supported yet".to_owned(),
            ));
        };
        let prev_short = self.db.get_short_event_id(prev)?.ok_or_else(|| {
            Error::InvalidEvent(format!("prev event {prev} is unknown here (gaps are not fetched yet)"))
        })?;
        let before = self
            .state_after(prev_short)?
            .ok_or_else(|| Error::InvalidEvent(format!("no state is known at prev event {prev}")))?;

        // Against the event's own auth events.
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
                .or_else(|| self.state_event(&before, kind, key).ok().flatten())
        })
        .map_err(Error::Unauthorized)?;
        // Against the state before it, and (soft-fail) the current state.
        self.authorize(&rules, pdu, &before)?;
        if before.hash != current.hash {
            self.authorize(&rules, pdu, &current)
                .map_err(|err| Error::Unauthorized(format!("soft-failed against the current state: {err}")))?;
        }
        let event_id = pdu.event_id.clone();
        self.append(
            &guard,
            &checked.pdu,
            checked.json,
            Some(&before),
            None,
            Durability::Synced,
        )?;
        Ok(event_id)
    }
}
