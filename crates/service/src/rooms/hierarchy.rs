//! Spaces (spec: "Spaces"): what this server knows of a space's rooms. The walk of
//! `GET /rooms/{roomId}/hierarchy` is `Services::hierarchy` (`remote_hierarchy.rs`), which asks
//! other servers for rooms this one is not in; here are its local pieces (a room's summary,
//! its children in the spec's order, who may preview it) and the federation `/hierarchy`
//! answer ([`RoomService::hierarchy_for_server`]).

use accord_core::Pdu;
use ruma::{
    OwnedRoomId, RoomId, ServerName, UserId,
    events::StateEventType,
    events::room::member::MembershipState,
    room::{JoinRuleSummary, RestrictedSummary, RoomSummary},
};
use serde_json::{Value, json};

use super::RoomService;
use crate::{AuthedUser, Error, Result};

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
    /// The room's summary (with the allowed rooms of a restricted one).
    pub summary: RoomSummary,
    /// Its `m.space.child` events, stripped (with `origin_server_ts`).
    pub children_state: Vec<Value>,
}

/// A room in a walk, with the children it leads to (room id, `m.space.child` content).
pub type HierarchyNode = (HierarchyRoom, Vec<(OwnedRoomId, Value)>);

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
    child_in(event.state_key.as_deref()?, event.content_value())
}

/// A child named by a state key and `m.space.child` content, when `via` is a non-empty list of
/// strings.
pub(crate) fn child_in(state_key: &str, content: Value) -> Option<(OwnedRoomId, Value)> {
    let via = content.get("via")?.as_array()?;
    if via.is_empty() || !via.iter().all(Value::is_string) {
        return None;
    }
    Some((OwnedRoomId::try_from(state_key).ok()?, content))
}

/// Whether a child is followed under `suggested_only`.
pub(crate) fn followed(content: &Value, suggested_only: bool) -> bool {
    !suggested_only || content.get("suggested") == Some(&Value::Bool(true))
}

/// The `via` servers of a child's content.
pub(crate) fn via_of(content: &Value) -> Vec<ruma::OwnedServerName> {
    content["via"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|server| ruma::OwnedServerName::try_from(server.as_str()?).ok())
        .collect()
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

/// The rooms whose members a restricted room admits (`allow` entries of type
/// `m.room_membership`).
fn allowed_rooms(join_rules: &Value) -> Vec<OwnedRoomId> {
    join_rules["allow"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|allowed| allowed["type"] == "m.room_membership")
        .filter_map(|allowed| OwnedRoomId::try_from(allowed["room_id"].as_str()?).ok())
        .collect()
}

impl RoomService {
    /// The root of a `/hierarchy` walk must be a room here the user may preview (403).
    pub(crate) fn check_hierarchy_root(&self, user: &AuthedUser, root: &RoomId) -> Result<()> {
        if !self.rooms.exists(root)? || !self.may_preview(&user.user_id, root)? {
            return Err(Error::forbidden(format!("You may not preview the room {root}")));
        }
        Ok(())
    }

    /// Whether this server holds the room.
    pub(crate) fn knows_room(&self, room_id: &RoomId) -> Result<bool> {
        Ok(self.rooms.exists(room_id)?)
    }

    /// A room of this server in a user's walk: `None` when the user may not preview it (the
    /// root was checked already); else its summary, children state and children.
    pub(crate) fn local_hierarchy_node(
        &self,
        user: &AuthedUser,
        room_id: &RoomId,
        is_root: bool,
    ) -> Result<Option<HierarchyNode>> {
        if !is_root && !self.may_preview(&user.user_id, room_id)? {
            return Ok(None);
        }
        let children = self.space_children(room_id)?;
        let room = HierarchyRoom {
            summary: self.room_summary(room_id)?,
            children_state: children.iter().map(|(_, _, stripped)| stripped.clone()).collect(),
        };
        Ok(Some((
            room,
            children
                .into_iter()
                .map(|(child, content, _)| (child, content))
                .collect(),
        )))
    }

    /// Whether a user may preview a room of another server from its summary: anyone may join,
    /// knock or read it, or it is restricted to a room the user is joined to here.
    pub(crate) fn may_preview_summary(&self, user_id: &UserId, summary: &RoomSummary) -> Result<bool> {
        if summary.world_readable {
            return Ok(true);
        }
        match &summary.join_rule {
            JoinRuleSummary::Public | JoinRuleSummary::Knock | JoinRuleSummary::KnockRestricted(_) => Ok(true),
            JoinRuleSummary::Restricted(restricted) => self.joined_any(user_id, &restricted.allowed_room_ids),
            _ => Ok(false),
        }
    }

    /// Whether the user is joined to one of `rooms`.
    fn joined_any(&self, user_id: &UserId, rooms: &[OwnedRoomId]) -> Result<bool> {
        for room_id in rooms {
            if self
                .membership(room_id, user_id)?
                .is_some_and(|record| record.membership == MembershipState::Join)
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// A room's summary, with the allowed rooms of restricted join rules (other servers decide
    /// from them whether their users may see it).
    pub(crate) fn room_summary(&self, room_id: &RoomId) -> Result<RoomSummary> {
        let mut summary = RoomSummary::from(self.public_room_entry(room_id)?);
        let (_, join_rules) = self.access_rules(room_id)?;
        let allowed = allowed_rooms(&join_rules);
        match join_rules["join_rule"].as_str() {
            Some("restricted") => summary.join_rule = JoinRuleSummary::Restricted(RestrictedSummary::new(allowed)),
            Some("knock_restricted") => {
                summary.join_rule = JoinRuleSummary::KnockRestricted(RestrictedSummary::new(allowed));
            }
            _ => {}
        }
        Ok(summary)
    }

    /// The federation `/hierarchy`: the room (404 unless `origin` may preview it), its direct
    /// children this server knows and `origin` may preview, and those it may not.
    pub fn hierarchy_for_server(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        suggested_only: bool,
    ) -> Result<(HierarchyRoom, Vec<RoomSummary>, Vec<OwnedRoomId>)> {
        if !self.rooms.exists(room_id)? || !self.server_may_preview(origin, room_id)? {
            return Err(Error::not_found(format!(
                "Room {room_id} is not known or not previewable"
            )));
        }
        let children = self.space_children(room_id)?;
        let mut accessible = Vec::new();
        let mut inaccessible = Vec::new();
        for (child, content, _) in &children {
            if !followed(content, suggested_only) {
                continue;
            }
            if !self.rooms.exists(child)? {
                continue;
            }
            if self.server_may_preview(origin, child)? {
                accessible.push(self.room_summary(child)?);
            } else {
                inaccessible.push(child.clone());
            }
        }
        let room = HierarchyRoom {
            summary: self.room_summary(room_id)?,
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
                for other in allowed_rooms(&join_rules) {
                    if self.rooms.exists(&other)? && db.has_joined_member_of(&other, origin)? {
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
            Some("restricted") => self.joined_any(user_id, &allowed_rooms(&join_rules)),
            Some("knock_restricted") => Ok(true),
            _ => Ok(false),
        }
    }
}
