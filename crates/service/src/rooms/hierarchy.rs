//! Spaces (spec: "Spaces", `GET /rooms/{roomId}/hierarchy`): the rooms under a space, walked
//! breadth first through `m.space.child` state events, each room summarised once (a loop of
//! spaces is walked once), only rooms the user may preview, children in the spec's order.
//!
//! Other servers ask through the federation `/hierarchy` ([`RoomService::hierarchy_for_server`]):
//! a room and its direct children, as far as that server may preview them. Rooms this server
//! is not in are left out of a client's walk for now: asking other servers for them is the
//! next step (docs/architecture.md, "Spaces").

use std::collections::{HashSet, VecDeque};

use accord_core::Pdu;
use ruma::{
    OwnedRoomId, RoomId, ServerName, UserId, directory::PublicRoomsChunk, events::StateEventType,
    events::room::member::MembershipState,
};
use serde_json::{Value, json};

use super::RoomService;
use crate::{AuthedUser, Error, Result};

/// Rooms per page without `limit` (Synapse's default) and at most.
const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 1000;
/// How deep a walk goes when the client sets no `max_depth`.
const MAX_DEPTH: usize = 50;

/// What `/hierarchy` asks for.
#[derive(Debug, Clone, Copy, Default)]
pub struct HierarchyQuery<'a> {
    /// Where a previous page stopped.
    pub from: Option<&'a str>,
    /// Most rooms.
    pub limit: Option<usize>,
    /// How many levels of children below the root (0: the root alone).
    pub max_depth: Option<usize>,
    /// Follow only children marked `suggested`.
    pub suggested_only: bool,
}

/// One room of a hierarchy.
#[derive(Debug, Clone)]
pub struct HierarchyRoom {
    /// The room's public summary.
    pub summary: PublicRoomsChunk,
    /// Its `m.space.child` events, stripped (with `origin_server_ts`).
    pub children_state: Vec<Value>,
}

/// One page of `/hierarchy`.
#[derive(Debug, Clone)]
pub struct HierarchyPage {
    /// The rooms, breadth first.
    pub rooms: Vec<HierarchyRoom>,
    /// Where to go on from; absent at the end.
    pub next_batch: Option<String>,
}

/// An `m.space.child` event that names a child: a non-empty `via` list of strings.
fn child_of(event: &Pdu) -> Option<(OwnedRoomId, Value)> {
    let content = event.content_value();
    let via = content.get("via")?.as_array()?;
    if via.is_empty() || !via.iter().all(Value::is_string) {
        return None;
    }
    let room_id = OwnedRoomId::try_from(event.state_key.as_deref()?).ok()?;
    Some((room_id, content))
}

/// The spec's order of children: a valid `order` (printable ASCII, at most 50 characters)
/// first, by it; then by the event's `origin_server_ts`; then by room id.
fn order_key(event: &Pdu, content: &Value, room_id: &RoomId) -> (u8, String, u64, String) {
    let order = content
        .get("order")
        .and_then(Value::as_str)
        .filter(|order| order.len() <= 50 && order.chars().all(|c| ('\x20'..='\x7e').contains(&c)));
    match order {
        Some(order) => (
            0,
            order.to_owned(),
            u64::from(event.origin_server_ts.0),
            room_id.to_string(),
        ),
        None => (
            1,
            String::new(),
            u64::from(event.origin_server_ts.0),
            room_id.to_string(),
        ),
    }
}

impl RoomService {
    /// `GET /rooms/{roomId}/hierarchy`.
    pub fn hierarchy(&self, user: &AuthedUser, root: &RoomId, query: HierarchyQuery<'_>) -> Result<HierarchyPage> {
        if !self.rooms.exists(root)? || !self.may_preview(&user.user_id, root)? {
            return Err(Error::forbidden(format!("You may not preview the room {root}")));
        }
        let limit = query.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
        let max_depth = query.max_depth.unwrap_or(MAX_DEPTH).min(MAX_DEPTH);
        let skip = match query.from {
            Some(token) => token
                .parse::<usize>()
                .map_err(|_| Error::invalid_param(format!("Invalid pagination token {token:?}")))?,
            None => 0,
        };
        let mut queue = VecDeque::from([(root.to_owned(), 0usize)]);
        let mut seen = HashSet::new();
        let mut listed = 0usize;
        let mut rooms = Vec::new();
        let mut more = false;
        while let Some((room_id, depth)) = queue.pop_front() {
            if !seen.insert(room_id.clone()) {
                continue;
            }
            if !self.rooms.exists(&room_id)? || (room_id != root && !self.may_preview(&user.user_id, &room_id)?) {
                continue;
            }
            let children = self.space_children(&room_id)?;
            if depth < max_depth {
                for (child, content, _) in &children {
                    if !query.suggested_only || content.get("suggested") == Some(&Value::Bool(true)) {
                        queue.push_back((child.clone(), depth + 1));
                    }
                }
            }
            listed += 1;
            if listed <= skip {
                continue;
            }
            if rooms.len() == limit {
                more = true;
                break;
            }
            rooms.push(HierarchyRoom {
                summary: self.public_room_entry(&room_id)?,
                children_state: children.into_iter().map(|(_, _, stripped)| stripped).collect(),
            });
        }
        Ok(HierarchyPage {
            rooms,
            next_batch: more.then(|| (skip + limit).to_string()),
        })
    }

    /// The federation `/hierarchy`: the room (404 unless `origin` may preview it), its direct
    /// children this server knows and `origin` may preview, and those it may not.
    pub fn hierarchy_for_server(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        suggested_only: bool,
    ) -> Result<(HierarchyRoom, Vec<PublicRoomsChunk>, Vec<OwnedRoomId>)> {
        if !self.rooms.exists(room_id)? || !self.server_may_preview(origin, room_id)? {
            return Err(Error::not_found(format!(
                "Room {room_id} is not known or not previewable"
            )));
        }
        let children = self.space_children(room_id)?;
        let mut accessible = Vec::new();
        let mut inaccessible = Vec::new();
        for (child, content, _) in &children {
            if suggested_only && content.get("suggested") != Some(&Value::Bool(true)) {
                continue;
            }
            if !self.rooms.exists(child)? {
                continue;
            }
            if self.server_may_preview(origin, child)? {
                accessible.push(self.public_room_entry(child)?);
            } else {
                inaccessible.push(child.clone());
            }
        }
        let room = HierarchyRoom {
            summary: self.public_room_entry(room_id)?,
            children_state: children.into_iter().map(|(_, _, stripped)| stripped).collect(),
        };
        Ok((room, accessible, inaccessible))
    }

    /// Whether another server may see a room's summary: one of its users is joined, or the
    /// room is public, knockable or world-readable, or restricted to a room one of its users
    /// is joined to.
    fn server_may_preview(&self, origin: &ServerName, room_id: &RoomId) -> Result<bool> {
        let db = self.rooms.db();
        if db.has_joined_member_of(room_id, origin)? {
            return Ok(true);
        }
        let (history, join_rules) = self.access_rules(room_id)?;
        if history == "world_readable" {
            return Ok(true);
        }
        match join_rules["join_rule"].as_str() {
            Some("public" | "knock" | "knock_restricted") => Ok(true),
            Some("restricted") => {
                for allowed in join_rules["allow"].as_array().into_iter().flatten() {
                    if allowed["type"] == "m.room_membership"
                        && let Some(other) = allowed["room_id"].as_str().and_then(|id| RoomId::parse(id).ok())
                        && self.rooms.exists(&other)?
                        && db.has_joined_member_of(&other, origin)?
                    {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            _ => Ok(false),
        }
    }

    /// A room's history visibility and join rules content.
    fn access_rules(&self, room_id: &RoomId) -> Result<(String, Value)> {
        let state = self.rooms.current_state(room_id)?;
        let content = |kind: StateEventType| -> Result<Value> {
            Ok(self
                .rooms
                .state_event(&state, &kind, "")?
                .map(|event| event.content_value())
                .unwrap_or(Value::Null))
        };
        let history = content(StateEventType::RoomHistoryVisibility)?["history_visibility"]
            .as_str()
            .unwrap_or("shared")
            .to_owned();
        Ok((history, content(StateEventType::RoomJoinRules)?))
    }

    /// A room's children, in the spec's order, with their stripped events.
    fn space_children(&self, room_id: &RoomId) -> Result<Vec<(OwnedRoomId, Value, Value)>> {
        let state = self.rooms.current_state(room_id)?;
        let mut children = Vec::new();
        for event in self.rooms.state_events(&state)? {
            if event.kind.to_string() != "m.space.child" {
                continue;
            }
            let Some((child, content)) = child_of(&event) else {
                continue;
            };
            let key = order_key(&event, &content, &child);
            let stripped = json!({
                "type": "m.space.child",
                "state_key": child,
                "content": content,
                "sender": event.sender,
                "origin_server_ts": event.origin_server_ts,
            });
            children.push((key, child, content, stripped));
        }
        children.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(children
            .into_iter()
            .map(|(_, child, content, stripped)| (child, content, stripped))
            .collect())
    }

    /// Whether the user may see a room's summary (spec: "the user can peek or join"): a
    /// member or invitee, a room anyone may join or knock on, a world-readable room, or a
    /// restricted room whose allow list names a room the user is joined to.
    fn may_preview(&self, user_id: &UserId, room_id: &RoomId) -> Result<bool> {
        if self
            .membership(room_id, user_id)?
            .is_some_and(|record| matches!(record.membership, MembershipState::Join | MembershipState::Invite))
        {
            return Ok(true);
        }
        let (history, join_rules) = self.access_rules(room_id)?;
        if history == "world_readable" {
            return Ok(true);
        }
        match join_rules["join_rule"].as_str() {
            Some("public" | "knock") => Ok(true),
            Some("restricted" | "knock_restricted") => {
                for allowed in join_rules["allow"].as_array().into_iter().flatten() {
                    if allowed["type"] == "m.room_membership"
                        && let Some(other) = allowed["room_id"].as_str().and_then(|id| RoomId::parse(id).ok())
                        && self
                            .membership(&other, user_id)?
                            .is_some_and(|record| record.membership == MembershipState::Join)
                    {
                        return Ok(true);
                    }
                }
                Ok(join_rules["join_rule"] == "knock_restricted")
            }
            _ => Ok(false),
        }
    }
}
