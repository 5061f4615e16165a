//! List filters ruma 0.17's request type does not carry, read by the API layer from the raw
//! body: `spaces` (the accepted MSC4186) and `tags` / `not_tags` (Synapse, from MSC3575).

use std::collections::{BTreeMap, BTreeSet};

use ruma::{OwnedRoomId, RoomId, UserId, events::room::member::MembershipState};
use serde_json::Value;

use crate::{Result, rooms::RoomService};

/// The extra filters of one list.
#[derive(Debug, Clone, Default)]
pub struct ExtraFilters {
    /// Only rooms that are children of one of these spaces (the user must be in the space).
    pub spaces: Option<Vec<OwnedRoomId>>,
    /// Only rooms with at least one of these tags.
    pub tags: Option<Vec<String>>,
    /// No room with any of these tags (wins over `tags`).
    pub not_tags: Vec<String>,
}

impl ExtraFilters {
    /// Whether there is anything to filter on.
    pub fn is_empty(&self) -> bool {
        self.spaces.is_none() && self.tags.is_none() && self.not_tags.is_empty()
    }
}

/// Extra filters by list name.
pub type ListExtras = BTreeMap<String, ExtraFilters>;

/// What extra filters read, computed once per list.
pub(crate) struct ExtraFacts {
    /// The children of the listed spaces (`None`: no `spaces` filter).
    in_spaces: Option<BTreeSet<OwnedRoomId>>,
    tags: Option<Vec<String>>,
    not_tags: Vec<String>,
}

impl ExtraFacts {
    pub fn load(rooms: &RoomService, user_id: &UserId, extra: &ExtraFilters) -> Result<Self> {
        let in_spaces = match &extra.spaces {
            None => None,
            Some(spaces) => {
                let mut children = BTreeSet::new();
                for space in spaces {
                    children.extend(space_children(rooms, user_id, space)?);
                }
                Some(children)
            }
        };
        Ok(Self {
            in_spaces,
            tags: extra.tags.clone(),
            not_tags: extra.not_tags.clone(),
        })
    }

    /// Whether the room passes the extra filters.
    pub fn passes(&self, rooms: &RoomService, user_id: &UserId, room_id: &RoomId) -> Result<bool> {
        if self
            .in_spaces
            .as_ref()
            .is_some_and(|children| !children.contains(room_id))
        {
            return Ok(false);
        }
        if self.tags.is_none() && self.not_tags.is_empty() {
            return Ok(true);
        }
        let tags: Vec<String> = match rooms.rooms().db().get_account_data(user_id, Some(room_id), "m.tag")? {
            Some(content) => content["tags"]
                .as_object()
                .map(|tags| tags.keys().cloned().collect())
                .unwrap_or_default(),
            None => Vec::new(),
        };
        if tags.iter().any(|tag| self.not_tags.contains(tag)) {
            return Ok(false);
        }
        Ok(self
            .tags
            .as_ref()
            .is_none_or(|wanted| tags.iter().any(|tag| wanted.contains(tag))))
    }
}

/// The rooms a space names as children, if the user is joined to the space (the MSC: no
/// recursion into sub-spaces).
fn space_children(rooms: &RoomService, user_id: &UserId, space: &RoomId) -> Result<Vec<OwnedRoomId>> {
    let joined = rooms
        .rooms()
        .db()
        .get_membership(user_id, space)?
        .is_some_and(|record| record.membership == MembershipState::Join);
    if !joined {
        return Ok(Vec::new());
    }
    let Ok(state) = rooms.rooms().current_state(space) else {
        return Ok(Vec::new());
    };
    let mut children = Vec::new();
    for (state_key, short) in state.map.iter() {
        let (kind, key) = rooms.rooms().db().state_key_of(*state_key)?;
        if kind != "m.space.child" {
            continue;
        }
        if let Some(pdu) = rooms.rooms().pdu(*short)?
            && let Some((child, _)) = crate::rooms::hierarchy::child_in(
                &key,
                serde_json::from_str::<Value>(pdu.content.get()).unwrap_or_default(),
            )
        {
            children.push(child);
        }
    }
    Ok(children)
}
