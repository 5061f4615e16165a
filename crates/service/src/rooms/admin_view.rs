//! Rooms as server admins see them (Synapse's admin room API): a summary of any room the
//! server knows, its members, state, history and forward extremities, all without being a
//! member. Admins read what the database holds; visibility rules are for members.

use std::collections::HashSet;

use accord_db::Direction;
use ruma::{OwnedRoomId, OwnedUserId, RoomId, events::room::member::MembershipState};
use serde::Serialize;
use serde_json::Value;

use super::RoomService;
use crate::{Error, Result};

/// A room in the shape of Synapse's admin API.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AdminRoom {
    /// The room.
    pub room_id: String,
    /// `m.room.name`.
    pub name: Option<String>,
    /// `m.room.topic`.
    pub topic: Option<String>,
    /// `m.room.avatar`.
    pub avatar: Option<String>,
    /// `m.room.canonical_alias`.
    pub canonical_alias: Option<String>,
    /// Joined members, of every server.
    pub joined_members: usize,
    /// Joined members of this server.
    pub joined_local_members: usize,
    /// Devices of the joined local members.
    pub joined_local_devices: usize,
    /// The room version.
    pub version: String,
    /// The create event's sender.
    pub creator: Option<String>,
    /// `m.room.encryption`'s algorithm.
    pub encryption: Option<String>,
    /// Whether other servers may join (`m.federate`).
    pub federatable: bool,
    /// Published in the room directory.
    pub public: bool,
    /// `m.room.join_rules`.
    pub join_rules: Option<String>,
    /// `m.room.guest_access`.
    pub guest_access: Option<String>,
    /// `m.room.history_visibility`.
    pub history_visibility: Option<String>,
    /// State events in the current state.
    pub state_events: usize,
    /// The create event's `type` (spaces).
    pub room_type: Option<String>,
    /// Blocked by an admin.
    pub blocked: bool,
}

/// A page of an admin's `/messages`.
#[derive(Debug, Clone)]
pub struct AdminMessages {
    /// Events, client format.
    pub chunk: Vec<Value>,
    /// Where the page started.
    pub start: String,
    /// Where the next page starts, when there is one.
    pub end: Option<String>,
}

fn text(content: &Value, field: &str) -> Option<String> {
    content.get(field).and_then(Value::as_str).map(str::to_owned)
}

impl RoomService {
    /// Every room the server knows, but those being purged (half gone, see `known_room`).
    pub fn admin_room_ids(&self) -> Result<Vec<OwnedRoomId>> {
        let db = self.rooms.db();
        let mut rooms = db.room_ids()?;
        let purging: HashSet<OwnedRoomId> = db.unfinished_room_purges()?.into_iter().map(|(room, _)| room).collect();
        rooms.retain(|room| !purging.contains(room));
        Ok(rooms)
    }

    fn known_room(&self, room_id: &RoomId) -> Result<accord_room::RoomState> {
        let db = self.rooms.db();
        if db.get_room_meta(room_id)?.is_none() {
            return Err(Error::not_found(format!("Room {room_id} not found")));
        }
        // A room whose purge has begun may have lost its state already: it is as good as gone.
        if db.room_purge_mark(room_id)?.is_some() {
            return Err(Error::not_found(format!("Room {room_id} is being purged")));
        }
        Ok(self.rooms.current_state(room_id)?)
    }

    /// The summary of one room; 404 when the server doesn't know it.
    pub fn admin_room(&self, room_id: &RoomId) -> Result<AdminRoom> {
        let state = self.known_room(room_id)?;
        let db = self.rooms.db();
        let mut room = AdminRoom {
            room_id: room_id.to_string(),
            version: state.version.to_string(),
            federatable: true,
            public: db.is_published(room_id)?,
            blocked: db.room_block(room_id)?.is_some(),
            ..AdminRoom::default()
        };
        let local = &self.config.server_name;
        for pdu in self.rooms.state_events(&state)? {
            room.state_events += 1;
            let content = pdu.content_value();
            match pdu.kind.to_string().as_str() {
                "m.room.create" => {
                    room.creator = Some(pdu.sender.to_string());
                    room.federatable = content.get("m.federate").and_then(Value::as_bool).unwrap_or(true);
                    room.room_type = text(&content, "type");
                }
                "m.room.name" => room.name = text(&content, "name"),
                "m.room.topic" => room.topic = text(&content, "topic"),
                "m.room.avatar" => room.avatar = text(&content, "url"),
                "m.room.canonical_alias" => room.canonical_alias = text(&content, "alias"),
                "m.room.encryption" => room.encryption = text(&content, "algorithm"),
                "m.room.join_rules" => room.join_rules = text(&content, "join_rule"),
                "m.room.guest_access" => room.guest_access = text(&content, "guest_access"),
                "m.room.history_visibility" => room.history_visibility = text(&content, "history_visibility"),
                "m.room.member" if pdu.membership() == Some(MembershipState::Join) => {
                    room.joined_members += 1;
                    if let Some(member) = pdu.state_key.as_deref().and_then(|key| ruma::UserId::parse(key).ok())
                        && member.server_name() == local
                    {
                        room.joined_local_members += 1;
                        room.joined_local_devices += db.devices(&member)?.len();
                    }
                }
                _ => {}
            }
        }
        Ok(room)
    }

    /// The joined members of a room.
    pub fn admin_members(&self, room_id: &RoomId) -> Result<Vec<OwnedUserId>> {
        let state = self.known_room(room_id)?;
        let mut members = Vec::new();
        for pdu in self.rooms.state_events(&state)? {
            if let Some((member, MembershipState::Join)) = pdu.member_change() {
                members.push(member);
            }
        }
        members.sort();
        Ok(members)
    }

    /// The current state, client format, of `event_type` only when given.
    pub fn admin_state(&self, room_id: &RoomId, event_type: Option<&str>) -> Result<Vec<Value>> {
        let state = self.known_room(room_id)?;
        let mut events = Vec::new();
        for short in state.map.values() {
            let Some(pdu) = self.rooms.pdu(*short)? else {
                continue;
            };
            if event_type.is_some_and(|kind| pdu.kind.to_string() != kind) {
                continue;
            }
            if let Some(event) = self.render(*short, None)? {
                events.push(event);
            }
        }
        events.sort_by(|a, b| {
            (a["type"].as_str(), a["state_key"].as_str()).cmp(&(b["type"].as_str(), b["state_key"].as_str()))
        });
        Ok(events)
    }

    /// A page of a room's history as stored, from stream token `from` (the newest end without
    /// it, going backward; the oldest going forward), at most `limit` events.
    pub fn admin_messages(
        &self,
        room_id: &RoomId,
        from: Option<&str>,
        direction: Direction,
        limit: usize,
    ) -> Result<AdminMessages> {
        self.known_room(room_id)?;
        let from = match from {
            Some(token) => super::parse_token(token)?,
            None if direction == Direction::Backward => u64::MAX,
            None => 0,
        };
        let entries = self.rooms.db().timeline(room_id, from, None, direction, limit)?;
        let mut chunk = Vec::with_capacity(entries.len());
        for (_, short) in &entries {
            if let Some(event) = self.render(*short, None)? {
                chunk.push(event);
            }
        }
        let end = (entries.len() == limit)
            .then(|| entries.last().map(|(count, _)| format!("s{count}")))
            .flatten();
        Ok(AdminMessages {
            chunk,
            start: format!("s{from}"),
            end,
        })
    }

    /// The room's forward extremities: each event's id and its origin's timestamp.
    pub fn admin_forward_extremities(&self, room_id: &RoomId) -> Result<Vec<Value>> {
        self.known_room(room_id)?;
        let mut out = Vec::new();
        for (event_id, pdu) in self.extremity_events(room_id)? {
            out.push(serde_json::json!({
                "event_id": event_id,
                "depth": pdu.as_ref().map(|pdu| pdu.depth),
                "received_ts": pdu.as_ref().map(|pdu| u64::from(pdu.origin_server_ts.get())),
                "state_group": Value::Null,
            }));
        }
        Ok(out)
    }

    /// The room's forward extremities, each once, with its event when stored.
    fn extremity_events(&self, room_id: &RoomId) -> Result<Vec<(ruma::OwnedEventId, Option<accord_core::Pdu>)>> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for event_id in self.rooms.db().extremities(room_id)? {
            if seen.insert(event_id.clone()) {
                let pdu = self.rooms.pdu_by_id(&event_id)?;
                out.push((event_id, pdu));
            }
        }
        Ok(out)
    }

    /// Drops every forward extremity but the deepest (Synapse's admin repair of a room that
    /// gathered too many, which slows every send); the events stay. How many went.
    pub async fn delete_forward_extremities(&self, admin: &ruma::UserId, room_id: &RoomId) -> Result<usize> {
        self.known_room(room_id)?;
        let guard = self.rooms.lock(room_id).await;
        let extremities = self.extremity_events(room_id)?;
        let deepest = extremities
            .iter()
            .filter_map(|(_, pdu)| pdu.as_ref().map(|pdu| pdu.depth))
            .max();
        let dropped: Vec<ruma::OwnedEventId> = extremities
            .into_iter()
            .filter(|(_, pdu)| pdu.as_ref().map(|pdu| pdu.depth) != deepest)
            .map(|(event_id, _)| event_id)
            .collect();
        let db = self.rooms.db();
        let mut batch = guard.batch();
        db.drop_extremities(&mut batch, &dropped)?;
        db.write_room(batch)?;
        let event = accord_db::AuditEvent::new(crate::audit::kinds::EXTREMITIES_DELETED)
            .actor(admin)
            .target(room_id)
            .detail("deleted", dropped.len());
        db.audit(event)?;
        Ok(dropped.len())
    }
}
