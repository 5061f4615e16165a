//! Relations and threads as clients read them (spec: "Relationships", "Threading"):
//! `/relations` pages of the events relating to one, `/threads` (a room's threads by latest
//! reply), and the aggregations bundled into `unsigned["m.relations"]` of every event served.
//!
//! Tokens are stream positions, as for `/messages`, so a `/sync` `next_batch` or a `/messages`
//! token works as `from` too (Complement's TestRelationsPaginationSync).

use std::collections::HashSet;

use accord_db::{
    Direction,
    rooms::{Relation, RelationRecord, ShortEventId},
};
use ruma::{EventId, RoomId};
use serde_json::{Map, Value, json};

use super::{RoomService, read::parse_token};
use crate::{AuthedUser, Error, Result};

/// `/relations` without `limit` (Synapse's default, which clients rely on for small pages).
const DEFAULT_LIMIT: usize = 5;
/// The most events one page returns (as Synapse).
const MAX_LIMIT: usize = 1000;
/// How deep `recurse=true` follows relations of relations (as Synapse).
const RECURSION_DEPTH: u64 = 3;
/// The most descendants one recursive page considers.
const MAX_RECURSIVE: usize = 10_000;
/// The most children read for one event's aggregations.
const MAX_AGGREGATED: usize = 10_000;

/// What `/relations` asks for.
#[derive(Debug, Clone, Default)]
pub struct RelationsQuery<'a> {
    /// Only this `rel_type`.
    pub rel_type: Option<&'a str>,
    /// Only this event type (with `rel_type`).
    pub event_type: Option<&'a str>,
    /// Start token.
    pub from: Option<&'a str>,
    /// End token (exclusive).
    pub to: Option<&'a str>,
    /// Towards older events (the default) or newer ones.
    pub backward: bool,
    /// Most events.
    pub limit: Option<usize>,
    /// Include events relating to the children, and so on.
    pub recurse: bool,
}

/// One page of `/relations`.
#[derive(Debug, Clone)]
pub struct RelationsPage {
    /// The events, in pagination order, each with its own aggregations.
    pub chunk: Vec<Value>,
    /// Where to go on from; absent at the end.
    pub next_batch: Option<String>,
    /// The `from` this page started at.
    pub prev_batch: Option<String>,
    /// How deep the page looked, when `recurse` was asked for.
    pub recursion_depth: Option<u64>,
}

/// One page of `/threads`.
#[derive(Debug, Clone)]
pub struct ThreadsPage {
    /// The thread roots, latest activity first, each with its `m.thread` aggregation.
    pub chunk: Vec<Value>,
    /// Where to go on from; absent at the end.
    pub next_batch: Option<String>,
}

/// Which aggregations a rendered event carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bundles {
    /// All of them: an event served on its own.
    All,
    /// Only its latest edit: a thread's latest reply, inside the root's summary.
    EditsOnly,
    /// None: an edit, inside the event it edits.
    None,
}

impl RoomService {
    /// `GET /rooms/{roomId}/relations/{eventId}[/{relType}[/{eventType}]]`.
    pub fn relations(
        &self,
        user: &AuthedUser,
        room_id: &RoomId,
        parent_id: &EventId,
        query: &RelationsQuery<'_>,
    ) -> Result<RelationsPage> {
        let not_found = || Error::not_found(format!("Event {parent_id} not found"));
        self.readable_state(room_id, &user.user_id)?;
        let db = self.rooms.db();
        let parent = db.get_short_event_id(parent_id)?.ok_or_else(not_found)?;
        let parent_meta = db.event_meta(parent)?;
        if parent_meta.room_id != room_id || !self.can_see_with(&user.user_id, parent, &parent_meta)? {
            return Err(not_found());
        }
        let limit = query.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
        let from = query.from.map(parse_token).transpose()?;
        let to = query.to.map(parse_token).transpose()?;
        let direction = if query.backward {
            Direction::Backward
        } else {
            Direction::Forward
        };
        // Edits of a redacted event are no longer edits of anything (spec: redactions).
        let parent_redacted = parent_meta.redacted_by.is_some();
        let keep = |record: &RelationRecord| {
            query.rel_type.is_none_or(|wanted| wanted == record.rel_type)
                && query.event_type.is_none_or(|wanted| wanted == record.kind)
                && !(parent_redacted && record.rel_type == "m.replace")
        };
        let candidates = if query.recurse {
            self.descendants(room_id, parent_id, from, direction)?
                .into_iter()
                .filter(|relation| keep(&relation.record))
                .collect()
        } else {
            // One more than a page: whether there is a next one.
            db.relations(room_id, parent_id, from, direction, limit + 1, keep)?
        };
        let mut chunk = Vec::new();
        let mut last = None;
        let mut more = false;
        for relation in candidates {
            let past_end = match (direction, to) {
                (Direction::Backward, Some(to)) => relation.count <= to,
                (Direction::Forward, Some(to)) => relation.count > to,
                (_, None) => false,
            };
            if past_end {
                break;
            }
            if chunk.len() >= limit {
                more = true;
                break;
            }
            last = Some(relation.count);
            let meta = db.event_meta(relation.child)?;
            if meta.room_id == room_id
                && self.can_see_with(&user.user_id, relation.child, &meta)?
                && let Some(event) = self.render(relation.child, Some(user))?
            {
                chunk.push(event);
            }
        }
        let next_batch = match (more, last) {
            (true, Some(last)) => Some(match direction {
                Direction::Backward => last.saturating_sub(1).to_string(),
                Direction::Forward => last.to_string(),
            }),
            _ => None,
        };
        Ok(RelationsPage {
            chunk,
            next_batch,
            prev_batch: query.from.map(str::to_owned),
            recursion_depth: query.recurse.then_some(RECURSION_DEPTH),
        })
    }

    /// Every event relating to `root` directly or through up to [`RECURSION_DEPTH`] levels,
    /// past `from` in `direction`, in that order.
    fn descendants(
        &self,
        room_id: &RoomId,
        root: &EventId,
        from: Option<u64>,
        direction: Direction,
    ) -> Result<Vec<Relation>> {
        let db = self.rooms.db();
        let mut found: Vec<Relation> = Vec::new();
        let mut level = vec![root.to_owned()];
        let mut seen = HashSet::new();
        for _ in 0..RECURSION_DEPTH {
            let mut next = Vec::new();
            for parent in &level {
                for relation in db.relations(room_id, parent, None, Direction::Forward, MAX_RECURSIVE, |_| true)? {
                    if found.len() >= MAX_RECURSIVE || !seen.insert(relation.child) {
                        continue;
                    }
                    next.push(db.event_meta(relation.child)?.event_id);
                    found.push(relation);
                }
            }
            level = next;
        }
        found.retain(|relation| match (direction, from) {
            (Direction::Backward, Some(from)) => relation.count <= from,
            (Direction::Forward, Some(from)) => relation.count > from,
            (_, None) => true,
        });
        found.sort_by_key(|relation| relation.count);
        if direction == Direction::Backward {
            found.reverse();
        }
        Ok(found)
    }

    /// `GET /rooms/{roomId}/threads`.
    pub fn threads(
        &self,
        user: &AuthedUser,
        room_id: &RoomId,
        participated_only: bool,
        from: Option<&str>,
        limit: Option<usize>,
    ) -> Result<ThreadsPage> {
        self.readable_state(room_id, &user.user_id)?;
        let db = self.rooms.db();
        let limit = limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
        let from = from.map(parse_token).transpose()?;
        let user_id = user.user_id.as_str();
        let mut roots = Vec::new();
        let threads = db.threads::<Error>(room_id, from, limit + 1, |thread| {
            let Some(short) = db.get_short_event_id(&thread.root)? else {
                return Ok(false);
            };
            let meta = db.event_meta(short)?;
            if meta.room_id != room_id || !self.can_see_with(&user.user_id, short, &meta)? {
                return Ok(false);
            }
            if participated_only && !self.participated(room_id, short, &thread.root, user_id)? {
                return Ok(false);
            }
            roots.push(short);
            Ok(true)
        })?;
        let next_batch = (threads.len() > limit)
            .then(|| {
                threads
                    .get(limit - 1)
                    .map(|thread| thread.latest.saturating_sub(1).to_string())
            })
            .flatten();
        let mut chunk = Vec::new();
        for short in roots.into_iter().take(limit) {
            if let Some(event) = self.render(short, Some(user))? {
                chunk.push(event);
            }
        }
        Ok(ThreadsPage { chunk, next_batch })
    }

    /// Whether `user_id` sent the thread root or a reply in its thread.
    fn participated(&self, room_id: &RoomId, root: ShortEventId, root_id: &EventId, user_id: &str) -> Result<bool> {
        if self.rooms.pdu(root)?.is_some_and(|pdu| pdu.sender.as_str() == user_id) {
            return Ok(true);
        }
        let replies =
            self.rooms
                .db()
                .relations(room_id, root_id, None, Direction::Forward, MAX_AGGREGATED, |record| {
                    record.rel_type == "m.thread" && record.sender == user_id
                })?;
        Ok(!replies.is_empty())
    }

    /// The aggregations of the children of `event_id` (spec: "Aggregations of child events"):
    /// `m.thread` (count, latest reply, whether the viewer took part), `m.replace` (the latest
    /// edit by the original sender, of the same type) and `m.reference` (the ids). `None` when
    /// there is nothing to bundle. Annotations are never bundled (as Synapse, since MSC2677).
    pub(crate) fn aggregations(
        &self,
        room_id: &RoomId,
        event_id: &EventId,
        sender: &str,
        kind: &str,
        viewer: Option<&AuthedUser>,
        bundles: Bundles,
    ) -> Result<Option<Value>> {
        let db = self.rooms.db();
        let children = db.relations(
            room_id,
            event_id,
            None,
            Direction::Forward,
            MAX_AGGREGATED,
            |record| match bundles {
                Bundles::All => matches!(record.rel_type.as_str(), "m.thread" | "m.replace" | "m.reference"),
                Bundles::EditsOnly => record.rel_type == "m.replace",
                Bundles::None => false,
            },
        )?;
        if children.is_empty() {
            return Ok(None);
        }
        let viewer_id = viewer.map(|viewer| viewer.user_id.as_str());
        let mut bundle = Map::new();
        let mut thread_count = 0u64;
        let mut latest_reply = None;
        let mut participated = viewer_id == Some(sender);
        let mut latest_edit: Option<(u64, String, ShortEventId)> = None;
        let mut references = Vec::new();
        for relation in &children {
            match relation.record.rel_type.as_str() {
                "m.thread" => {
                    thread_count += 1;
                    latest_reply = Some(relation.child);
                    participated |= viewer_id == Some(relation.record.sender.as_str());
                }
                // Only the original sender's edits of the same type count (spec: "Validity of
                // replacement events").
                "m.replace" if relation.record.sender == sender && relation.record.kind == kind => {
                    let Some(edit) = self.rooms.pdu(relation.child)? else {
                        continue;
                    };
                    let key = (u64::from(edit.origin_server_ts.0), edit.event_id.to_string());
                    // The latest edit: greatest origin_server_ts, then greatest event id.
                    if latest_edit.as_ref().is_none_or(|(ts, id, _)| key > (*ts, id.clone())) {
                        latest_edit = Some((key.0, key.1, relation.child));
                    }
                }
                "m.reference" => {
                    if let Ok(meta) = db.event_meta(relation.child) {
                        references.push(json!({ "event_id": meta.event_id }));
                    }
                }
                _ => {}
            }
        }
        if let Some(latest) = latest_reply
            && let Some(latest_event) = self.render_bundled(latest, viewer, Bundles::EditsOnly)?
        {
            bundle.insert(
                "m.thread".to_owned(),
                json!({
                    "latest_event": latest_event,
                    "count": thread_count,
                    "current_user_participated": participated,
                }),
            );
        }
        if let Some((_, _, edit)) = latest_edit
            && let Some(edit_event) = self.render_bundled(edit, viewer, Bundles::None)?
        {
            bundle.insert("m.replace".to_owned(), edit_event);
        }
        if !references.is_empty() {
            bundle.insert("m.reference".to_owned(), json!({ "chunk": references }));
        }
        Ok((!bundle.is_empty()).then_some(Value::Object(bundle)))
    }
}
