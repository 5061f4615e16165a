//! Reading room state: full state maps per snapshot (cached), lookups by `(type, state_key)`,
//! and loading the PDUs behind them.

use std::{collections::HashMap, sync::Arc};

use accord_core::Pdu;
use accord_db::rooms::{ShortEventId, ShortStateHash, StateMap};
use parking_lot::Mutex;
use ruma::{EventId, OwnedEventId, RoomId, RoomVersionId, UserId, events::StateEventType};

use crate::{Error, Result, Rooms};

/// Snapshots kept in memory; busy rooms hit the cache, old ones are re-read from disk.
const CACHED_SNAPSHOTS: usize = 512;

/// Parsed PDUs kept in memory.
const CACHED_PDUS: usize = 16_384;

/// Caches of materialized state maps and parsed PDUs.
#[derive(Clone, Debug, Default)]
pub(crate) struct StateCache {
    maps: Arc<Mutex<HashMap<ShortStateHash, Arc<StateMap>>>>,
    pdus: Arc<Mutex<HashMap<ShortEventId, Arc<Pdu>>>>,
}

/// A room's state at some point: which event holds each `(type, state_key)`.
#[derive(Clone, Debug)]
pub struct RoomState {
    /// The snapshot id.
    pub hash: ShortStateHash,
    /// The room version.
    pub version: RoomVersionId,
    /// short state key -> short event id.
    pub map: Arc<StateMap>,
}

impl Rooms {
    /// The materialized state of a snapshot.
    pub(crate) fn state_map(&self, hash: ShortStateHash) -> Result<Arc<StateMap>> {
        if let Some(map) = self.state.maps.lock().get(&hash) {
            return Ok(map.clone());
        }
        let map = Arc::new(self.db.state_map(hash)?);
        let mut maps = self.state.maps.lock();
        if maps.len() >= CACHED_SNAPSHOTS {
            maps.clear();
        }
        maps.insert(hash, map.clone());
        Ok(map)
    }

    /// The room's version, or `RoomNotFound`.
    pub fn room_version(&self, room_id: &RoomId) -> Result<RoomVersionId> {
        Ok(self
            .db
            .get_room_meta(room_id)?
            .ok_or_else(|| Error::RoomNotFound(room_id.to_string()))?
            .version)
    }

    /// Whether the server knows the room.
    pub fn exists(&self, room_id: &RoomId) -> Result<bool> {
        Ok(self.db.get_room_meta(room_id)?.is_some())
    }

    /// Whether a local user is joined to `room_id`, so this server follows the room live (a
    /// room it left still holds what it knew then).
    pub fn is_resident(&self, room_id: &RoomId) -> Result<bool> {
        Ok(self.exists(room_id)? && self.db.has_joined_member_of(room_id, &self.identity.server_name)?)
    }

    /// The room's current state.
    pub fn current_state(&self, room_id: &RoomId) -> Result<RoomState> {
        let meta = self
            .db
            .get_room_meta(room_id)?
            .ok_or_else(|| Error::RoomNotFound(room_id.to_string()))?;
        let hash = ShortStateHash(meta.current_state);
        Ok(RoomState {
            hash,
            version: meta.version,
            map: self.state_map(hash)?,
        })
    }

    /// The room's state after a stored event.
    pub fn state_after(&self, event: ShortEventId) -> Result<Option<RoomState>> {
        self.state_after_meta(&self.db.event_meta(event)?)
    }

    /// The room's state after the event `meta` describes (`None` for an outlier without one).
    pub fn state_after_meta(&self, meta: &accord_db::rooms::EventMeta) -> Result<Option<RoomState>> {
        let Some(hash) = meta.state_after() else {
            return Ok(None);
        };
        let version = self.room_version(&meta.room_id)?;
        Ok(Some(RoomState {
            hash,
            version,
            map: self.state_map(hash)?,
        }))
    }

    /// The event holding `(event_type, state_key)` in `state`.
    pub fn state_event_id(&self, state: &RoomState, event_type: &str, state_key: &str) -> Result<Option<ShortEventId>> {
        let Some(key) = self.db.get_short_state_key(event_type, state_key)? else {
            return Ok(None);
        };
        Ok(state.map.get(&key).copied())
    }

    /// The PDU holding `(event_type, state_key)` in `state`.
    pub fn state_event(&self, state: &RoomState, event_type: &StateEventType, state_key: &str) -> Result<Option<Pdu>> {
        match self.state_event_id(state, &event_type.to_string(), state_key)? {
            Some(short) => self.pdu(short),
            None => Ok(None),
        }
    }

    /// A user's membership in `state` (`None` when they never had one).
    pub fn membership_in(
        &self,
        state: &RoomState,
        user_id: &UserId,
    ) -> Result<Option<ruma::events::room::member::MembershipState>> {
        let Some(pdu) = self.state_event(state, &StateEventType::RoomMember, user_id.as_str())? else {
            return Ok(None);
        };
        Ok(pdu.membership())
    }

    /// A stored PDU by short id (`None` if only referenced, never stored).
    ///
    /// Parsed PDUs are cached: stored events never change (redaction is recorded beside them),
    /// and authorization reads the same few state events for every send.
    pub fn pdu(&self, short: ShortEventId) -> Result<Option<Pdu>> {
        if let Some(pdu) = self.state.pdus.lock().get(&short) {
            return Ok(Some(Pdu::clone(pdu)));
        }
        let Some(json) = self.db.get_pdu_json(short)? else {
            return Ok(None);
        };
        let meta = self.db.event_meta(short)?;
        let mut pdu = Pdu::from_canonical(meta.event_id, &meta.room_id, &json)
            .map_err(|err| Error::InvalidEvent(err.to_string()))?;
        pdu.rejected = meta.rejected;
        let mut pdus = self.state.pdus.lock();
        if pdus.len() >= CACHED_PDUS {
            pdus.clear();
        }
        pdus.insert(short, Arc::new(pdu.clone()));
        Ok(Some(pdu))
    }

    /// Drops parsed copies of events whose stored form changed (pruned).
    pub(crate) fn forget_cached_pdus(&self, shorts: &[ShortEventId]) {
        let mut pdus = self.state.pdus.lock();
        for short in shorts {
            pdus.remove(short);
        }
    }

    /// A stored PDU by event id.
    pub fn pdu_by_id(&self, event_id: &EventId) -> Result<Option<Pdu>> {
        match self.db.get_short_event_id(event_id)? {
            Some(short) => self.pdu(short),
            None => Ok(None),
        }
    }

    /// Every `(type, state_key, pdu)` of a state.
    pub fn state_events(&self, state: &RoomState) -> Result<Vec<Pdu>> {
        let mut events = Vec::with_capacity(state.map.len());
        for short in state.map.values() {
            if let Some(pdu) = self.pdu(*short)? {
                events.push(pdu);
            }
        }
        events.sort_by(|a, b| (a.kind.to_string(), &a.state_key).cmp(&(b.kind.to_string(), &b.state_key)));
        Ok(events)
    }

    /// Event ids of a state, for `state_ids`-style answers.
    pub fn state_event_ids(&self, state: &RoomState) -> Result<Vec<OwnedEventId>> {
        state
            .map
            .values()
            .map(|short| Ok(self.db.event_id_of(*short)?))
            .collect()
    }
}
