//! `GET /rooms/{roomId}/hierarchy` (spec: "Spaces"): the rooms under a space, breadth first
//! through `m.space.child` events, each room once (a loop of spaces ends there), only rooms the
//! user may preview, children in the spec's order. A child this server is not in is asked of
//! the servers its `via` names (the federation `/hierarchy`, through the allow-list) and shown
//! when its summary says the user may preview it. Pages are offsets into the walk.

use std::collections::{HashSet, VecDeque};

use ruma::{OwnedServerName, RoomId, api::federation::space::get_hierarchy::v1 as get_hierarchy};
use serde_json::Value;

use crate::{
    AuthedUser, Error, Result, Services,
    rooms::{HierarchyNode, HierarchyPage, HierarchyQuery, HierarchyRoom},
};

/// Rooms per page without `limit` (Synapse's default) and at most.
const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 1000;
/// How deep a walk goes when the client sets no `max_depth`.
const MAX_DEPTH: usize = 50;
/// Servers asked for one remote room before giving up on it.
const MAX_VIA: usize = 3;

impl Services {
    /// `GET /rooms/{roomId}/hierarchy`.
    pub async fn hierarchy(
        &self,
        user: &AuthedUser,
        root: &RoomId,
        query: HierarchyQuery<'_>,
    ) -> Result<HierarchyPage> {
        self.rooms.check_hierarchy_root(user, root)?;
        let limit = query.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
        let max_depth = query.max_depth.unwrap_or(MAX_DEPTH).min(MAX_DEPTH);
        let skip = match query.from {
            Some(token) => token
                .parse::<usize>()
                .map_err(|_| Error::invalid_param(format!("Invalid pagination token {token:?}")))?,
            None => 0,
        };
        let mut queue = VecDeque::from([(root.to_owned(), 0usize, Vec::<OwnedServerName>::new())]);
        let mut seen = HashSet::new();
        let mut listed = 0usize;
        let mut rooms = Vec::new();
        let mut more = false;
        while let Some((room_id, depth, via)) = queue.pop_front() {
            if !seen.insert(room_id.clone()) {
                continue;
            }
            let node = if self.rooms.knows_room(&room_id)? {
                self.rooms.local_hierarchy_node(user, &room_id, room_id == root)?
            } else {
                self.remote_hierarchy_node(user, &room_id, &via, query.suggested_only)
                    .await?
            };
            let Some((room, children)) = node else {
                continue;
            };
            if depth < max_depth {
                for (child, content) in children {
                    if crate::rooms::hierarchy_follows(&content, query.suggested_only) {
                        let via = crate::rooms::hierarchy_via(&content);
                        queue.push_back((child, depth + 1, via));
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
            rooms.push(room);
        }
        Ok(HierarchyPage {
            rooms,
            next_batch: more.then(|| (skip + limit).to_string()),
        })
    }

    /// A room this server is not in, from the first of its `via` servers that answers;
    /// `None` when none does or the user may not preview it.
    async fn remote_hierarchy_node(
        &self,
        user: &AuthedUser,
        room_id: &RoomId,
        via: &[OwnedServerName],
        suggested_only: bool,
    ) -> Result<Option<HierarchyNode>> {
        let Some(federation) = &self.federation else {
            return Ok(None);
        };
        for server in via
            .iter()
            .filter(|server| **server != self.config.server_name)
            .take(MAX_VIA)
        {
            let mut request = get_hierarchy::Request::new(room_id.to_owned());
            request.suggested_only = suggested_only;
            let answer = match federation.client().send(server, request).await {
                Ok(answer) => answer,
                Err(err) => {
                    tracing::info!(%room_id, %server, %err, "a space child's server gave no hierarchy");
                    continue;
                }
            };
            let summary = answer.room.summary;
            if summary.room_id != room_id || !self.rooms.may_preview_summary(&user.user_id, &summary)? {
                return Ok(None);
            }
            let mut children_state = Vec::new();
            let mut children = Vec::new();
            for raw in &answer.room.children_state {
                let Ok(event) = serde_json::from_str::<Value>(raw.json().get()) else {
                    continue;
                };
                let (Some(state_key), Some(content)) = (event["state_key"].as_str(), event.get("content")) else {
                    continue;
                };
                if event["type"] != "m.space.child" {
                    continue;
                }
                if let Some(child) = crate::rooms::hierarchy_child(state_key, content.clone()) {
                    children.push(child);
                    children_state.push(event);
                }
            }
            return Ok(Some((
                HierarchyRoom {
                    summary,
                    children_state,
                },
                children,
            )));
        }
        Ok(None)
    }
}
