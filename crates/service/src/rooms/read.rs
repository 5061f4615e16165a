//! Reading rooms: single events, state, members, joined rooms, `/context` and `/messages`.

use accord_db::{Direction, rooms::ShortEventId};
use accord_room::RoomState;
use std::collections::BTreeMap;

use ruma::{
    EventId, OwnedRoomId, OwnedUserId, RoomId, UserId,
    events::room::member::{MembershipState, RoomMemberEventContent},
};
use serde::Deserialize;
use serde_json::Value;

use super::RoomService;
use crate::{AuthedUser, Error, Result};

/// Most events one `/messages` or `/context` page returns.
const MAX_PAGE: usize = 1000;

/// The event filter fields `/messages` and `/context` honour.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct EventFilter {
    /// Only these types (`*` wildcards at the end).
    #[serde(default)]
    pub types: Option<Vec<String>>,
    /// Not these types.
    #[serde(default)]
    pub not_types: Vec<String>,
    /// Only these senders.
    #[serde(default)]
    pub senders: Option<Vec<String>>,
    /// Not these senders.
    #[serde(default)]
    pub not_senders: Vec<String>,
    /// Include the member events of the senders in `state`.
    #[serde(default)]
    pub lazy_load_members: bool,
    /// With lazy loading, send member events even when the client already has them.
    #[serde(default)]
    pub include_redundant_members: bool,
    /// `true`: only events whose content has a `url` (files, images); `false`: only those
    /// without.
    #[serde(default)]
    pub contains_url: Option<bool>,
    /// Only events with one of these relation types (MSC3874, unstable as Synapse serves it).
    #[serde(default, rename = "org.matrix.msc3874.rel_types")]
    pub rel_types: Option<Vec<String>>,
    /// Not events with one of these relation types (MSC3874).
    #[serde(default, rename = "org.matrix.msc3874.not_rel_types")]
    pub not_rel_types: Vec<String>,
}

fn type_matches(pattern: &str, kind: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => kind.starts_with(prefix),
        None => pattern == kind,
    }
}

impl EventFilter {
    /// Whether a client event passes the filter.
    pub fn allows(&self, event: &Value) -> bool {
        let kind = event["type"].as_str().unwrap_or_default();
        let sender = event["sender"].as_str().unwrap_or_default();
        self.types
            .as_ref()
            .is_none_or(|types| types.iter().any(|t| type_matches(t, kind)))
            && !self.not_types.iter().any(|t| type_matches(t, kind))
            && self
                .senders
                .as_ref()
                .is_none_or(|senders| senders.iter().any(|s| s == sender))
            && !self.not_senders.iter().any(|s| s == sender)
            && self
                .contains_url
                .is_none_or(|wanted| event["content"]["url"].is_string() == wanted)
            && self.allows_relation(event["content"]["m.relates_to"]["rel_type"].as_str())
    }

    /// Whether the filter looks into `content` (otherwise type and sender are enough to test
    /// an event, and a caller can spare rendering it).
    pub fn needs_content(&self) -> bool {
        self.contains_url.is_some() || self.rel_types.is_some() || !self.not_rel_types.is_empty()
    }

    fn allows_relation(&self, rel_type: Option<&str>) -> bool {
        let listed = |types: &[String]| rel_type.is_some_and(|r| types.iter().any(|t| t == r));
        self.rel_types.as_deref().is_none_or(listed) && !listed(&self.not_rel_types)
    }
}

/// One page of `/messages`.
#[derive(Debug, Clone)]
pub struct MessagesPage {
    /// The token the page started at.
    pub start: String,
    /// The token to continue from, absent when there is nothing more.
    pub end: Option<String>,
    /// Where the page stopped, `end` or not: where to go on from once more history arrives
    /// (backfilled from another server).
    pub stopped_at: String,
    /// The events, in pagination order.
    pub chunk: Vec<Value>,
    /// Member events of the senders, when lazy loading was asked for.
    pub state: Vec<Value>,
    /// A backward page asked to stop at holes in the timeline stopped at this event, the one
    /// just above a hole: history to fetch from other servers before going on.
    pub gap_at: Option<ShortEventId>,
    /// This server has more events past the page (it did not reach the end of what it holds).
    pub more_here: bool,
}

/// The events around one event (`/context`), rendered for the caller.
#[derive(Debug, Clone)]
pub struct ContextPage {
    /// The event asked about.
    pub event: Value,
    /// Events before it, newest first.
    pub events_before: Vec<Value>,
    /// Events after it, oldest first.
    pub events_after: Vec<Value>,
    /// Token to paginate backwards from `events_before`.
    pub start: String,
    /// Token to paginate forwards from `events_after`.
    pub end: String,
    /// The room state at the event.
    pub state: Vec<Value>,
}

/// Where a `/messages` page starts and ends.
#[derive(Debug, Clone, Copy)]
pub struct Pagination<'a> {
    /// Start token (default: the newest position going backward, the oldest going forward).
    pub from: Option<&'a str>,
    /// End token, exclusive.
    pub to: Option<&'a str>,
    /// Backward (towards older events) or forward.
    pub backward: bool,
    /// Most events returned.
    pub limit: usize,
}

/// Parses a pagination token (a stream position).
pub fn parse_token(token: &str) -> Result<u64> {
    token
        .trim_start_matches('s')
        .parse()
        .map_err(|_| Error::invalid_param(format!("Invalid pagination token {token:?}")))
}

impl RoomService {
    /// `GET /rooms/{roomId}/event/{eventId}`.
    pub fn event(&self, user: &AuthedUser, room_id: &RoomId, event_id: &EventId) -> Result<Value> {
        let not_found = || Error::not_found(format!("Event {event_id} not found"));
        self.rooms.room_version(room_id)?;
        let short = self.rooms.db().get_short_event_id(event_id)?.ok_or_else(not_found)?;
        let meta = self.rooms.db().event_meta(short)?;
        if meta.room_id != room_id || !self.can_see(&user.user_id, short)? {
            return Err(not_found());
        }
        self.render(short, Some(user))?.ok_or_else(not_found)
    }

    /// `GET /rooms/{roomId}/state`.
    pub fn state(&self, user: &AuthedUser, room_id: &RoomId) -> Result<Vec<Value>> {
        let state = self.readable_state(room_id, &user.user_id)?;
        self.render_state(&state, user)
    }

    pub(crate) fn render_state(&self, state: &RoomState, user: &AuthedUser) -> Result<Vec<Value>> {
        let mut events: Vec<Value> = Vec::with_capacity(state.map.len());
        for short in state.map.values() {
            if let Some(event) = self.render(*short, Some(user))? {
                events.push(event);
            }
        }
        events.sort_by(|a, b| {
            (a["type"].as_str(), a["state_key"].as_str()).cmp(&(b["type"].as_str(), b["state_key"].as_str()))
        });
        Ok(events)
    }

    /// `GET /rooms/{roomId}/state/{eventType}/{stateKey}`: the content, or the whole event.
    pub fn state_event(&self, user: &AuthedUser, room_id: &RoomId, kind: &str, state_key: &str) -> Result<Value> {
        let state = self.readable_state(room_id, &user.user_id)?;
        let short = self
            .rooms
            .state_event_id(&state, kind, state_key)?
            .ok_or_else(|| Error::not_found(format!("No {kind} state with key {state_key:?}")))?;
        self.render(short, Some(user))?
            .ok_or_else(|| Error::not_found("State event not found"))
    }

    /// `GET /joined_rooms`.
    pub fn joined_rooms(&self, user_id: &UserId) -> Result<Vec<OwnedRoomId>> {
        Ok(self
            .rooms
            .db()
            .rooms_of_user(user_id)?
            .into_iter()
            .filter(|(_, record)| record.membership == MembershipState::Join)
            .map(|(room, _)| room)
            .collect())
    }

    /// `GET /rooms/{roomId}/members`.
    pub fn members(
        &self,
        user: &AuthedUser,
        room_id: &RoomId,
        at: Option<&str>,
        membership: Option<&str>,
        not_membership: Option<&str>,
    ) -> Result<Vec<Value>> {
        let readable = self.readable_state(room_id, &user.user_id)?;
        // The state after the room's last event at or before `at`; a point before the room's
        // first event has no state (404, as Synapse answers), never the current one.
        let state = match at {
            Some(token) => self
                .state_at_position(room_id, parse_token(token)?)?
                .ok_or_else(|| Error::not_found(format!("The room has no event at or before {token}")))?,
            None => readable,
        };
        let mut members = Vec::new();
        for event in self.render_state(&state, user)? {
            if event["type"] != "m.room.member" {
                continue;
            }
            let current = event["content"]["membership"].as_str().unwrap_or_default();
            if membership.is_some_and(|m| m != current) || not_membership.is_some_and(|m| m == current) {
                continue;
            }
            members.push(event);
        }
        Ok(members)
    }

    /// `GET /rooms/{roomId}/joined_members`.
    pub fn joined_members(
        &self,
        user: &AuthedUser,
        room_id: &RoomId,
    ) -> Result<BTreeMap<OwnedUserId, RoomMemberEventContent>> {
        let state = self.joined_state(room_id, &user.user_id)?;
        let mut joined = BTreeMap::new();
        // Rendered as clients see them (a redacted member event has no profile left).
        for event in self.render_state(&state, user)? {
            if event["type"] != "m.room.member" {
                continue;
            }
            let Some(member) = event["state_key"]
                .as_str()
                .and_then(|key| OwnedUserId::try_from(key).ok())
            else {
                continue;
            };
            // Content that doesn't parse (no valid membership) is no join.
            let Ok(content) = serde_json::from_value::<RoomMemberEventContent>(event["content"].clone()) else {
                continue;
            };
            if content.membership == MembershipState::Join {
                joined.insert(member, content);
            }
        }
        Ok(joined)
    }

    /// The room state after the last event at or before stream position `position`.
    pub(crate) fn state_at_position(&self, room_id: &RoomId, position: u64) -> Result<Option<RoomState>> {
        let found = self
            .rooms
            .db()
            .timeline(room_id, position.saturating_add(1), None, Direction::Backward, 1)?;
        match found.first() {
            Some((_, short)) => Ok(self.rooms.state_after(*short)?),
            None => Ok(None),
        }
    }

    /// `GET /rooms/{roomId}/messages`. Tokens are stream positions: backward from `p` returns
    /// events at or before `p`, forward returns events after `p`.
    pub fn messages(
        &self,
        user: &AuthedUser,
        room_id: &RoomId,
        page: Pagination<'_>,
        filter: &EventFilter,
    ) -> Result<MessagesPage> {
        self.messages_page(user, room_id, page, filter, false)
    }

    /// [`Self::messages`]; with `stop_at_gaps`, a backward page ends at the first event that
    /// follows a hole in the timeline ([`MessagesPage::gap_at`]), so the hole can be filled
    /// before the page reads on past it.
    pub fn messages_page(
        &self,
        user: &AuthedUser,
        room_id: &RoomId,
        page: Pagination<'_>,
        filter: &EventFilter,
        stop_at_gaps: bool,
    ) -> Result<MessagesPage> {
        let Pagination {
            from,
            to,
            backward,
            limit,
        } = page;
        self.readable_state(room_id, &user.user_id)?;
        let limit = limit.clamp(1, MAX_PAGE);
        let visible = self.rooms.db().visible_count();
        let mut position = match from {
            Some(token) => parse_token(token)?,
            None if backward => visible,
            None => 0,
        };
        let start = position.to_string();
        let to = to.map(parse_token).transpose()?;
        let mut chunk = Vec::new();
        let mut exhausted = false;
        let mut gap_at = None;
        while chunk.len() < limit && !exhausted && gap_at.is_none() {
            let page = if backward {
                self.rooms
                    .db()
                    .timeline(room_id, position.saturating_add(1), to, Direction::Backward, limit)?
            } else {
                let until = to.map(|t| t.saturating_add(1)).unwrap_or(visible.saturating_add(1));
                self.rooms
                    .db()
                    .timeline(room_id, position, Some(until), Direction::Forward, limit)?
            };
            exhausted = page.len() < limit;
            for (count, short) in page {
                position = if backward { count.saturating_sub(1) } else { count };
                let meta = self.rooms.db().event_meta(short)?;
                if self.can_see_with(&user.user_id, short, &meta)?
                    && let Some(event) = self.render(short, Some(user))?
                    && filter.allows(&event)
                {
                    chunk.push(event);
                }
                if backward && stop_at_gaps && meta.gap_before {
                    gap_at = Some(short);
                    break;
                }
                if chunk.len() >= limit {
                    break;
                }
            }
            if position == 0 {
                exhausted = true;
            }
        }
        // Past a hole there is history still to fetch: the page goes on from there.
        let more_here = !exhausted || chunk.len() >= limit || gap_at.is_some();
        // The spec omits `end` once nothing more is available; Synapse gives it whenever the
        // page has events (it learns the end only from an empty page), and clients and
        // Complement (TestRoomImageRoundtrip) expect it so: the next page is then empty.
        let end = (more_here || !chunk.is_empty()).then(|| position.to_string());
        let state = if filter.lazy_load_members {
            self.sender_members(user, room_id, &chunk)?
        } else {
            Vec::new()
        };
        Ok(MessagesPage {
            start,
            end,
            stopped_at: position.to_string(),
            chunk,
            state,
            gap_at,
            more_here,
        })
    }

    /// The current member events of the senders of `events` (for lazy-loading clients).
    pub(crate) fn sender_members(&self, user: &AuthedUser, room_id: &RoomId, events: &[Value]) -> Result<Vec<Value>> {
        let state = self.readable_state(room_id, &user.user_id)?;
        let mut senders: Vec<&str> = events.iter().filter_map(|e| e["sender"].as_str()).collect();
        senders.sort_unstable();
        senders.dedup();
        let mut members = Vec::new();
        for sender in senders {
            if let Some(short) = self.rooms.state_event_id(&state, "m.room.member", sender)?
                && let Some(event) = self.render(short, Some(user))?
            {
                members.push(event);
            }
        }
        Ok(members)
    }

    /// `GET /rooms/{roomId}/context/{eventId}`.
    pub fn context(
        &self,
        user: &AuthedUser,
        room_id: &RoomId,
        event_id: &EventId,
        limit: usize,
        filter: &EventFilter,
    ) -> Result<ContextPage> {
        let event = self.event(user, room_id, event_id)?;
        let short = self
            .rooms
            .db()
            .get_short_event_id(event_id)?
            .ok_or_else(|| Error::not_found("Event not found"))?;
        let count = self
            .rooms
            .db()
            .event_meta(short)?
            .count
            .ok_or_else(|| Error::not_found("Event is not in the timeline"))?;
        let half = limit.min(MAX_PAGE) / 2;
        let before_token = count.saturating_sub(1).to_string();
        let after_token = count.to_string();
        let backward = Pagination {
            from: Some(&before_token),
            to: None,
            backward: true,
            limit: half.max(1),
        };
        let forward = Pagination {
            from: Some(&after_token),
            to: None,
            backward: false,
            limit: (limit.min(MAX_PAGE) - half).max(1),
        };
        let before = self.messages(user, room_id, backward, filter)?;
        let after = self.messages(user, room_id, forward, filter)?;
        let state = match self.state_at_position(room_id, count)? {
            Some(state) => self.render_state(&state, user)?,
            None => Vec::new(),
        };
        let take = |page: &super::read::MessagesPage, n: usize| page.chunk.iter().take(n).cloned().collect::<Vec<_>>();
        Ok(ContextPage {
            event,
            events_before: if limit == 0 { Vec::new() } else { take(&before, half) },
            events_after: if limit == 0 {
                Vec::new()
            } else {
                take(&after, limit - half)
            },
            start: before.end.unwrap_or_else(|| "0".to_owned()),
            end: after.end.unwrap_or(after.start),
            state,
        })
    }
}
