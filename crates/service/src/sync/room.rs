//! The `rooms` section of `/sync`: joined rooms (timeline, state, summary, account data),
//! invites and knocks (stripped state), and rooms left.

use std::collections::{BTreeSet, HashSet};

use accord_db::{
    Direction,
    rooms::{MembershipRecord, ShortEventId},
};
use accord_room::RoomState;
use ruma::{
    EventId, OwnedRoomId, OwnedUserId, RoomId, UInt, UserId,
    api::client::sync::sync_events::{
        UnreadNotificationsCount,
        v3::{
            InviteState, InvitedRoom, JoinedRoom, KnockState, KnockedRoom, LeftRoom, RoomSummary, Rooms, State,
            StateEvents, Timeline,
        },
    },
    events::{StateEventType, room::member::MembershipState},
};
use serde_json::{Map, Value, json};

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
    /// The user joined the room in this window (incremental syncs only).
    pub newly_joined: bool,
    /// `state_after` (MSC4222): the state up to the end of the timeline, not its start.
    pub state_after: bool,
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
        if since.is_none() {
            self.lazy_members.reset(&user.user_id, &user.device_id);
        }
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
                        newly_joined: since.is_some() && membership_changed,
                        ..*window
                    };
                    let section = self.joined_room(&window, &room_id)?;
                    rooms.join.insert(room_id, section);
                }
                MembershipState::Invite if membership_changed => {
                    let state = self.stripped_state(&room_id, &user.user_id)?;
                    // Not from ignored users, nor blocked or ignored ones of the invite
                    // permission settings.
                    if let Some(inviter) = inviter_of(&state, &user.user_id)
                        && !self.invite_shown(&user.user_id, inviter)?
                    {
                        continue;
                    }
                    let state = raw_jsons(&state)?;
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
                // A room forgotten since the leave still shows the leave to a sync from before
                // it (Synapse; Complement's TestRoomForget); only initial syncs drop it.
                MembershipState::Leave | MembershipState::Ban
                    if since.is_some() && membership_changed
                        || since.is_none() && filter.room.include_leave && !record.forgotten =>
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
            filter,
            ruleset,
            ..
        } = *window;
        let db = self.rooms().db();
        // A room joined in this window: its timeline as for an initial sync, and marked
        // limited, since the client has none of its history (Synapse does this; Complement's
        // TestSync checks it).
        let scan_since = if window.newly_joined { None } else { since };
        let mut slice = self.timeline_slice(user, room_id, until, scan_since, filter)?;
        slice.limited |= window.newly_joined;
        // Limited: just before the first event, where the client's history is cut. Not
        // limited, the timeline holds everything since `since` (the whole room, on an initial
        // sync): the sync's own position, as Synapse gives it, so `/members?at=prev_batch`
        // names the state the client has (Complement's TestGetRoomMembersAtPoint; the spec
        // lets prev_batch be left out there).
        let prev_batch = if slice.limited {
            slice.counts.iter().min().map_or(until, |c| c.saturating_sub(1))
        } else {
            since.unwrap_or(until)
        };
        let current = self.rooms().current_state(room_id)?;
        let summary = self.summary(&current, room_id, &user.user_id)?;
        let state = self.state_section(window, room_id, &current, &slice, &summary.heroes)?;
        let mut account_data = Vec::new();
        let room_data: Vec<(String, Value)> = match since {
            None => db
                .account_data_in(&user.user_id, Some(room_id))?
                .into_iter()
                .filter(|(_, content)| !crate::account_data::is_deleted(content))
                .collect(),
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

        let mut ephemeral: Vec<Value> = self.receipt_events(&user.user_id, room_id, since, until)?;
        ephemeral.extend(self.typing_event(room_id, since, until));
        let unread = self.unread_counts(&user.user_id, room_id, ruleset, until)?;
        let mut room = JoinedRoom::new();
        room.timeline = timeline(&slice.events, slice.limited, prev_batch)?;
        let state = StateEvents::with_events(raw_jsons(&state)?);
        room.state = if window.state_after {
            State::After(state)
        } else {
            State::Before(state)
        };
        room.ephemeral.events = raw_jsons(&ephemeral)?;
        room.account_data.events = raw_jsons(&account_data)?;
        room.summary = summary;
        // With `unread_thread_notifications` the room's counts are the main timeline's and each
        // thread with something unread has its own; without, the room's counts cover it all.
        let room_counts = if filter.room.timeline.unread_thread_notifications {
            for (root, counts) in &unread.threads {
                room.unread_thread_notifications
                    .insert(root.clone(), notification_count(*counts));
            }
            unread.main
        } else {
            unread.total()
        };
        room.unread_notifications = notification_count(room_counts);
        Ok(room)
    }

    /// The newest `limit` events at or below `upto` (and above `since`) that the user may see
    /// and the timeline filter passes, oldest first. Without `since` (an initial sync, or a
    /// room joined in this window) "newest" is by the room's graph, not by arrival: among twice
    /// `limit` recent events, those of greatest depth. An event that arrived late from another
    /// server on an old branch is then not taken for the room's latest (Synapse picks
    /// timelines so; Complement's TestSyncOmitsStateChangeOnFilteredEvents relies on it).
    /// The scan stops after an event that follows a hole in the timeline.
    pub(crate) fn timeline_slice(
        &self,
        user: &AuthedUser,
        room_id: &RoomId,
        upto: u64,
        since: Option<u64>,
        filter: &SyncFilter,
    ) -> Result<TimelineSlice> {
        let db = self.rooms().db();
        let limit = filter.timeline_limit();
        let by_depth = since.is_none();
        let wanted = if by_depth { limit * 2 } else { limit };
        let timeline_filter = &filter.room.timeline.events;
        // Candidates as (depth, count, event): filtered on the stored event's type and sender
        // (all a filter looks at), rendered only once chosen.
        let mut found: Vec<(u64, u64, ShortEventId)> = Vec::new();
        let mut more = false;
        let mut position = upto.saturating_add(1);
        'pages: loop {
            let page = db.timeline(room_id, position, since, Direction::Backward, limit * 2)?;
            if page.is_empty() {
                break;
            }
            for (count, short) in page {
                position = count;
                let meta = db.event_meta(short)?;
                if !self.can_see_with(&user.user_id, short, &meta)? {
                    continue;
                }
                let Some(pdu) = self.rooms().pdu(short)? else {
                    continue;
                };
                let mut probe = json!({ "type": pdu.kind.to_string(), "sender": pdu.sender });
                if timeline_filter.needs_content() {
                    probe["content"] = serde_json::from_str(pdu.content.get()).unwrap_or_default();
                }
                if !timeline_filter.allows(&probe) {
                    continue;
                }
                if found.len() == wanted {
                    more = true;
                    break 'pages;
                }
                found.push((u64::from(pdu.depth), count, short));
                // A hole in the timeline before this event: what precedes it here is not what
                // precedes it in the room, so the timeline ends here, limited (Synapse;
                // Complement's TestSyncTimelineGap).
                if meta.gap_before {
                    more = true;
                    break 'pages;
                }
            }
        }
        if by_depth {
            // The deepest `limit`.
            found.sort_by_key(|b| std::cmp::Reverse((b.0, b.1)));
            if found.len() > limit {
                found.truncate(limit);
                more = true;
            }
        }
        // Oldest first: by depth where picked by depth (a late branch keeps its place in the
        // graph), else by arrival.
        found.reverse();
        let mut slice = TimelineSlice {
            limited: more,
            ..TimelineSlice::default()
        };
        for (_, count, short) in found {
            if let Some(event) = self.render(short, Some(user))? {
                slice.counts.push(count);
                slice.events.push(event);
            }
        }
        Ok(slice)
    }

    /// A joined room's `state`: on initial, full-state and gappy syncs the state the client
    /// lacks before the timeline; with lazy loading, the member events of the timeline's
    /// senders (and of the heroes, on initial and full-state syncs), in every kind of sync,
    /// each sent to a device once. With `state_after` (MSC4222) the state up to the timeline's
    /// end instead: every change since `since`, timeline events included, in every kind of
    /// sync, and the senders' member events even when the timeline carries them.
    fn state_section(
        &self,
        window: &SyncWindow<'_>,
        room_id: &RoomId,
        current: &RoomState,
        slice: &TimelineSlice,
        heroes: &[OwnedUserId],
    ) -> Result<Vec<Value>> {
        let SyncWindow {
            user,
            since,
            full_state,
            state_after,
            filter,
            ..
        } = *window;
        let db = self.rooms().db();
        let state_filter = &filter.room.state.events;
        let lazy = state_filter.lazy_load_members;
        let in_timeline: HashSet<&str> = slice.events.iter().filter_map(|e| e["event_id"].as_str()).collect();
        let whole = full_state || since.is_none();
        let mut state = Vec::new();
        if whole || slice.limited || state_after {
            for short in current.map.values() {
                let meta = db.event_meta(*short)?;
                if !state_after && in_timeline.contains(meta.event_id.as_str()) {
                    continue;
                }
                // Incremental: only what changed since the last sync.
                if !whole
                    && let (Some(since), Some(count)) = (since, meta.count)
                    && count <= since
                {
                    continue;
                }
                let Some(event) = self.render(*short, Some(user))? else {
                    continue;
                };
                // Lazy loading: member events come from the pass below.
                if lazy && event["type"] == "m.room.member" {
                    continue;
                }
                if state_filter.allows(&event) {
                    state.push(event);
                }
            }
        }
        if lazy {
            let mut wanted: BTreeSet<String> = slice
                .events
                .iter()
                .filter_map(|e| e["sender"].as_str().map(str::to_owned))
                .collect();
            if whole {
                wanted.insert(user.user_id.to_string());
                wanted.extend(heroes.iter().map(ToString::to_string));
            }
            state.extend(self.lazy_member_events(window, room_id, current, slice, wanted)?);
        }
        Ok(state)
    }

    /// The member events of `wanted` users for a lazy-loading sync, as of the current state
    /// (Synapse takes them at the timeline's start; the current one differs only when a
    /// sender changed their name within this very timeline, which then carries the change),
    /// minus those already in the timeline and, unless the filter asks for redundant members,
    /// those the device already has.
    fn lazy_member_events(
        &self,
        window: &SyncWindow<'_>,
        room_id: &RoomId,
        current: &RoomState,
        slice: &TimelineSlice,
        mut wanted: BTreeSet<String>,
    ) -> Result<Vec<Value>> {
        let SyncWindow {
            user,
            since,
            until,
            filter,
            ..
        } = *window;
        let device = (user.user_id.as_ref(), user.device_id.as_ref());
        let redundant = filter.room.state.events.include_redundant_members;
        for event in &slice.events {
            if event["type"] == "m.room.member"
                && let (Some(member), Some(event_id)) = (event["state_key"].as_str(), event["event_id"].as_str())
            {
                // `state_after` lists them even when the timeline carries them.
                if !window.state_after {
                    wanted.remove(member);
                }
                if let (Ok(member), Ok(event_id)) = (UserId::parse(member), EventId::parse(event_id)) {
                    self.lazy_members.record(device, room_id, &member, &event_id, until);
                }
            }
        }
        let mut events = Vec::new();
        for member in wanted {
            let Ok(member) = UserId::parse(member.as_str()) else {
                continue;
            };
            let Some(pdu) = self
                .rooms()
                .state_event(current, &StateEventType::RoomMember, member.as_str())?
            else {
                continue;
            };
            if !redundant
                && let Some(since) = since
                && self
                    .lazy_members
                    .delivered(device, room_id, &member, &pdu.event_id, since)
            {
                continue;
            }
            let Some(short) = self.rooms().db().get_short_event_id(&pdu.event_id)? else {
                continue;
            };
            let Some(event) = self.render(short, Some(user))? else {
                continue;
            };
            if filter.room.state.events.allows(&event) {
                self.lazy_members.record(device, room_id, &member, &pdu.event_id, until);
                events.push(event);
            }
        }
        Ok(events)
    }

    /// Heroes and member counts, for clients to name unnamed rooms.
    pub(crate) fn summary(&self, state: &RoomState, room_id: &RoomId, user_id: &ruma::UserId) -> Result<RoomSummary> {
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

    /// Stripped state of a room, plus the user's own membership event and the member event
    /// of whoever invited them (Synapse sends it so the client can show "X invited you").
    pub(crate) fn stripped_state(&self, room_id: &RoomId, user_id: &ruma::UserId) -> Result<Vec<Value>> {
        if let Some(invite) = self.rooms().db().remote_invite(user_id, room_id)? {
            return Ok(invite.stripped_state);
        }
        let state = self.rooms().current_state(room_id)?;
        let mut events = Vec::new();
        let strip = |pdu: accord_core::Pdu| crate::remote_membership::strip(&pdu.to_client_event(Map::new()));
        for kind in STRIPPED_STATE_TYPES {
            if let Some(pdu) = self.rooms().state_event(&state, &StateEventType::from(*kind), "")? {
                events.push(strip(pdu));
            }
        }
        if let Some(own) = self
            .rooms()
            .state_event(&state, &StateEventType::RoomMember, user_id.as_str())?
        {
            if own.sender != user_id
                && let Some(inviter) =
                    self.rooms()
                        .state_event(&state, &StateEventType::RoomMember, own.sender.as_str())?
            {
                events.push(strip(inviter));
            }
            events.push(strip(own));
        }
        Ok(events)
    }

    /// Whether the user's invite to `room_id` reaches their clients: not from an ignored or
    /// blocked user ([`crate::invite_permission`]).
    pub(crate) fn invite_visible(&self, user_id: &ruma::UserId, room_id: &RoomId) -> Result<bool> {
        let state = self.stripped_state(room_id, user_id)?;
        match inviter_of(&state, user_id) {
            Some(inviter) => self.invite_shown(user_id, inviter),
            None => Ok(true),
        }
    }

    /// Whether an invite from `inviter` reaches `user_id`'s clients
    /// ([`crate::invite_permission`]).
    fn invite_shown(&self, user_id: &ruma::UserId, inviter: &str) -> Result<bool> {
        let Ok(inviter) = ruma::UserId::parse(inviter) else {
            return Ok(true);
        };
        Ok(
            crate::invite_permission::invite_rule(self.rooms().db(), user_id, &inviter)?
                == crate::invite_permission::InviteRule::Allow,
        )
    }

    /// A room the user left: the timeline up to their departure, filtered as a joined
    /// room's is.
    fn left_room(
        &self,
        user: &AuthedUser,
        room_id: &RoomId,
        record: &MembershipRecord,
        since: Option<u64>,
        filter: &SyncFilter,
    ) -> Result<LeftRoom> {
        let mut slice = self.timeline_slice(user, room_id, record.count, since, filter)?;
        // A room this server is not in (a rejected remote invite): its one event here is the
        // user's leave.
        if slice.events.is_empty()
            && let Some(leave) = self.rooms().db().out_of_band_leave(&user.user_id, room_id)?
            && filter.room.timeline.events.allows(&leave)
        {
            slice.events.push(leave);
            slice.counts.push(record.count);
        }
        let prev_batch = slice.counts.iter().min().map_or(record.count, |c| c.saturating_sub(1));
        let mut room = LeftRoom::new();
        room.timeline = timeline(&slice.events, slice.limited, prev_batch)?;
        Ok(room)
    }
}

/// Timeline events of one room for one sync, oldest first.
#[derive(Default)]
pub(crate) struct TimelineSlice {
    /// The events as the user sees them.
    pub events: Vec<Value>,
    /// Their stream positions.
    pub counts: Vec<u64>,
    /// Whether older events were left out.
    pub limited: bool,
}

/// Who sent `user_id`'s invite, from the invite's stripped state.
fn inviter_of<'a>(state: &'a [Value], user_id: &ruma::UserId) -> Option<&'a str> {
    state
        .iter()
        .find(|event| event["type"] == "m.room.member" && event["state_key"] == user_id.as_str())
        .and_then(|event| event["sender"].as_str())
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

/// Counts as `/sync` reports them.
fn notification_count(counts: crate::rooms::unread::Counts) -> UnreadNotificationsCount {
    let mut count = UnreadNotificationsCount::new();
    count.highlight_count = Some(uint(counts.highlights));
    count.notification_count = Some(uint(counts.notifications));
    count
}
