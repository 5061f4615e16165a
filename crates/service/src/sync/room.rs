//! The `rooms` section of `/sync`: joined rooms (timeline, state, summary, account data),
//! invites and knocks (stripped state), and rooms left.

use std::collections::HashSet;

use accord_db::{Direction, rooms::MembershipRecord};
use accord_room::RoomState;
use ruma::{
    OwnedRoomId, OwnedUserId, RoomId, UInt,
    api::client::sync::sync_events::v3::{
        InviteState, InvitedRoom, JoinedRoom, KnockState, KnockedRoom, LeftRoom, RoomSummary, Rooms, State,
        StateEvents, Timeline,
    },
    events::{StateEventType, room::member::MembershipState},
};
use serde_json::{Value, json};

use super::SyncFilter;
use crate::{AuthedUser, Result, raw::raw_jsons, rooms::RoomService};

/// State shown to invitees and knockers (spec: "stripped state").
pub(crate) const STRIPPED_STATE_TYPES: &[&str] = &[
    "m.room.create",
    "m.room.join_rules",
    "m.room.name",
    "m.room.avatar",
    "m.room.canonical_alias",
    "m.room.encryption",
    "m.room.topic",
];

/// One `/sync` computation: who, which stream window, and how to filter.
#[derive(Clone, Copy)]
pub(crate) struct SyncWindow<'a> {
    /// The syncing user.
    pub user: &'a AuthedUser,
    /// Everything at or below this position was delivered before (`None`: initial sync).
    pub since: Option<u64>,
    /// Deliver up to this position.
    pub until: u64,
    /// Send full state even if incremental.
    pub full_state: bool,
    /// The filter.
    pub filter: &'a SyncFilter,
    /// The user's push rules, for unread counts.
    pub ruleset: &'a ruma::push::Ruleset,
}

/// Most heroes in a room summary.
const MAX_HEROES: usize = 5;

impl RoomService {
    /// Builds `rooms` for `(since, until]`; the flag says whether anything is in it.
    pub(crate) fn sync_rooms(&self, window: &SyncWindow<'_>) -> Result<(Rooms, bool)> {
        let SyncWindow {
            user,
            since,
            until,
            full_state,
            filter,
            ..
        } = *window;
        let db = self.rooms().db();
        let changed: HashSet<OwnedRoomId> = match since {
            Some(since) => db.rooms_changed(since, until)?.into_iter().collect(),
            None => HashSet::new(),
        };
        let account_changes = match since {
            Some(since) => db.account_data_changes(&user.user_id, since, until)?,
            None => Vec::new(),
        };
        let mut rooms = Rooms::new();
        for (room_id, record) in db.rooms_of_user(&user.user_id)? {
            if !filter.room_allowed(room_id.as_str()) || record.count > until {
                continue;
            }
            let membership_changed = since.is_none_or(|since| record.count > since);
            let room_account_changed = account_changes.iter().any(|(room, _)| room.as_ref() == Some(&room_id));
            match record.membership {
                MembershipState::Join
                    if since.is_none()
                        || membership_changed
                        || full_state
                        || changed.contains(&room_id)
                        || room_account_changed =>
                {
                    let window = SyncWindow {
                        full_state: full_state || membership_changed,
                        ..*window
                    };
                    let section = self.joined_room(&window, &room_id)?;
                    rooms.join.insert(room_id, section);
                }
                MembershipState::Invite if membership_changed => {
                    let state = raw_jsons(&self.stripped_state(&room_id, &user.user_id)?)?;
                    rooms
                        .invite
                        .insert(room_id, InvitedRoom::from(InviteState::from(state)));
                }
                MembershipState::Knock if membership_changed => {
                    let state = raw_jsons(&self.stripped_state(&room_id, &user.user_id)?)?;
                    let mut knock_state = KnockState::new();
                    knock_state.events = state;
                    rooms.knock.insert(room_id, KnockedRoom::from(knock_state));
                }
                MembershipState::Leave | MembershipState::Ban
                    if !record.forgotten
                        && (since.is_some() && membership_changed || since.is_none() && filter.room.include_leave) =>
                {
                    let section = self.left_room(user, &room_id, &record, since, filter)?;
                    rooms.leave.insert(room_id, section);
                }
                _ => {}
            }
        }
        let has_news = !rooms.is_empty();
        Ok((rooms, has_news))
    }

    fn joined_room(&self, window: &SyncWindow<'_>, room_id: &RoomId) -> Result<JoinedRoom> {
        let SyncWindow {
            user,
            since,
            until,
            full_state,
            filter,
            ruleset,
        } = *window;
        let db = self.rooms().db();
        let limit = filter.timeline_limit();
        let timeline_filter = &filter.room.timeline.events;
        // Newest first, until `limit` visible events passing the filter are found.
        let mut events = Vec::new();
        let mut counts = Vec::new();
        let mut limited = false;
        let mut position = until.saturating_add(1);
        'pages: loop {
            let page = db.timeline(room_id, position, since, Direction::Backward, limit * 2)?;
            if page.is_empty() {
                break;
            }
            for (count, short) in page {
                position = count;
                if !self.can_see(&user.user_id, short)? {
                    continue;
                }
                if let Some(event) = self.render(short, Some(user))?
                    && timeline_filter.allows(&event)
                {
                    if events.len() == limit {
                        limited = true;
                        break 'pages;
                    }
                    events.push(event);
                    counts.push(count);
                }
            }
        }
        events.reverse();
        counts.reverse();
        let first_count = counts.first().copied();
        let prev_batch = first_count.map_or(until, |c| c.saturating_sub(1));

        let current = self.rooms().current_state(room_id)?;
        let in_timeline: HashSet<&str> = events.iter().filter_map(|e| e["event_id"].as_str()).collect();
        let lazy = filter.room.state.events.lazy_load_members;
        let senders: HashSet<&str> = events.iter().filter_map(|e| e["sender"].as_str()).collect();
        let mut state = Vec::new();
        if full_state || since.is_none() || limited {
            for short in current.map.values() {
                let meta = db.event_meta(*short)?;
                if in_timeline.contains(meta.event_id.as_str()) {
                    continue;
                }
                // Incremental and limited: only what changed in the gap before the timeline.
                if !(full_state || since.is_none())
                    && let (Some(since), Some(count)) = (since, meta.count)
                    && count <= since
                {
                    continue;
                }
                let Some(event) = self.render(*short, Some(user))? else {
                    continue;
                };
                if lazy && event["type"] == "m.room.member" {
                    let key = event["state_key"].as_str().unwrap_or_default();
                    if key != user.user_id.as_str() && !senders.contains(key) {
                        continue;
                    }
                }
                if filter.room.state.events.allows(&event) {
                    state.push(event);
                }
            }
        }

        let mut account_data = Vec::new();
        let room_data: Vec<(String, Value)> = match since {
            None => db.account_data_in(&user.user_id, Some(room_id))?,
            Some(since) => {
                let mut changed = Vec::new();
                for (room, kind) in db.account_data_changes(&user.user_id, since, until)? {
                    if room.as_deref() == Some(room_id)
                        && let Some(content) = db.get_account_data(&user.user_id, Some(room_id), &kind)?
                    {
                        changed.push((kind, content));
                    }
                }
                changed
            }
        };
        for (kind, content) in room_data {
            let event = json!({ "type": kind, "content": content });
            if filter.room.account_data.events.allows(&event) {
                account_data.push(event);
            }
        }

        let mut ephemeral: Vec<Value> = self
            .receipt_event(&user.user_id, room_id, since, until)?
            .into_iter()
            .collect();
        ephemeral.extend(self.typing_event(room_id, since, until));
        let (notifications, highlights) = self.unread_counts(&user.user_id, room_id, ruleset, until)?;
        let mut room = JoinedRoom::new();
        room.timeline = timeline(&events, limited, prev_batch)?;
        room.state = State::Before(StateEvents::with_events(raw_jsons(&state)?));
        room.ephemeral.events = raw_jsons(&ephemeral)?;
        room.account_data.events = raw_jsons(&account_data)?;
        room.summary = self.summary(&current, room_id, &user.user_id)?;
        room.unread_notifications.highlight_count = Some(uint(highlights));
        room.unread_notifications.notification_count = Some(uint(notifications));
        Ok(room)
    }

    /// Heroes and member counts, for clients to name unnamed rooms.
    fn summary(&self, state: &RoomState, room_id: &RoomId, user_id: &ruma::UserId) -> Result<RoomSummary> {
        let members = self.rooms().db().members_of_room(room_id)?;
        let joined = members.iter().filter(|(_, m)| *m == MembershipState::Join).count();
        let invited = members.iter().filter(|(_, m)| *m == MembershipState::Invite).count();
        let has_name = self
            .rooms()
            .state_event(state, &StateEventType::RoomName, "")?
            .is_some()
            || self
                .rooms()
                .state_event(state, &StateEventType::RoomCanonicalAlias, "")?
                .is_some();
        let mut summary = RoomSummary::new();
        summary.joined_member_count = Some(uint(joined as u64));
        summary.invited_member_count = Some(uint(invited as u64));
        if !has_name {
            let mut heroes: Vec<OwnedUserId> = members
                .into_iter()
                .filter(|(user, m)| user != user_id && (*m == MembershipState::Join || *m == MembershipState::Invite))
                .map(|(user, _)| user)
                .collect();
            heroes.sort_unstable();
            heroes.truncate(MAX_HEROES);
            summary.heroes = heroes;
        }
        Ok(summary)
    }

    /// Stripped state of a room, plus the user's own membership event.
    fn stripped_state(&self, room_id: &RoomId, user_id: &ruma::UserId) -> Result<Vec<Value>> {
        if let Some(invite) = self.rooms().db().remote_invite(user_id, room_id)? {
            return Ok(invite.stripped_state);
        }
        let state = self.rooms().current_state(room_id)?;
        let mut events = Vec::new();
        let strip = |pdu: accord_core::Pdu| json!({ "type": pdu.kind.to_string(), "state_key": pdu.state_key, "content": pdu.content_value(), "sender": pdu.sender });
        for kind in STRIPPED_STATE_TYPES {
            if let Some(pdu) = self.rooms().state_event(&state, &StateEventType::from(*kind), "")? {
                events.push(strip(pdu));
            }
        }
        if let Some(pdu) = self
            .rooms()
            .state_event(&state, &StateEventType::RoomMember, user_id.as_str())?
        {
            events.push(strip(pdu));
        }
        Ok(events)
    }

    /// A room the user left: the timeline up to their departure.
    fn left_room(
        &self,
        user: &AuthedUser,
        room_id: &RoomId,
        record: &MembershipRecord,
        since: Option<u64>,
        filter: &SyncFilter,
    ) -> Result<LeftRoom> {
        let db = self.rooms().db();
        let limit = filter.timeline_limit();
        let page = db.timeline(
            room_id,
            record.count.saturating_add(1),
            since,
            Direction::Backward,
            limit + 1,
        )?;
        let limited = page.len() > limit;
        let mut events = Vec::new();
        for (_, short) in page.into_iter().take(limit).rev() {
            if self.can_see(&user.user_id, short)?
                && let Some(event) = self.render(short, Some(user))?
            {
                events.push(event);
            }
        }
        let mut room = LeftRoom::new();
        room.timeline = timeline(&events, limited, record.count.saturating_sub(1))?;
        Ok(room)
    }
}

/// A room's timeline section.
fn timeline(events: &[Value], limited: bool, prev_batch: u64) -> Result<Timeline> {
    let mut timeline = Timeline::new();
    timeline.events = raw_jsons(events)?;
    timeline.limited = limited;
    timeline.prev_batch = Some(prev_batch.to_string());
    Ok(timeline)
}

/// A count as the spec's integer (counts never come near 2^53).
fn uint(count: u64) -> UInt {
    UInt::try_from(count).unwrap_or(UInt::MAX)
}
