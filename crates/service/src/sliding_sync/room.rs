//! One room of a sliding sync response: what a client that holds the room as of its last
//! response lacks, or the whole room (`initial`) when this connection never sent it.

use std::collections::{BTreeSet, HashSet};

use accord_db::{Direction, rooms::MembershipRecord};
use accord_room::RoomState;
use ruma::{
    JsOption, OwnedMxcUri, OwnedRoomId, OwnedUserId, RoomId, UInt, UserId,
    api::client::sync::sync_events::{
        UnreadNotificationsCount,
        v5::response::{Hero, Room},
    },
    events::{StateEventType, room::member::MembershipState},
};
use serde_json::Value;

use super::{connections::SentRoom, required_state::RequiredState};
use crate::{AuthedUser, Result, raw::raw_jsons, rooms::RoomService, sync::SyncFilter};

/// What one room is sent with: the union over the lists and subscriptions showing it.
#[derive(Debug, Clone, Default)]
pub(crate) struct RoomConfig {
    pub required_state: RequiredState,
    pub timeline_limit: usize,
}

/// The request-wide facts a room needs.
pub(crate) struct RoomWindow<'a> {
    pub user: &'a AuthedUser,
    /// The position of the connection's last response (`None`: a new connection).
    pub since: Option<u64>,
    /// Deliver up to this position.
    pub until: u64,
    pub ruleset: &'a ruma::push::Ruleset,
    /// Rooms with events in `(since, until]`: a room the client holds as of `since` and not
    /// among them has nothing new.
    pub changed: &'a HashSet<OwnedRoomId>,
}

/// One room to answer for: the user's membership, what the room is sent with, what the
/// client holds of it (`None`: nothing), and whether the user counts it a direct chat.
#[derive(Clone, Copy)]
pub(crate) struct RoomAsk<'a> {
    pub record: &'a MembershipRecord,
    pub config: &'a RoomConfig,
    pub sent: Option<&'a SentRoom>,
    pub is_dm: bool,
}

/// A room to send and what the client will then hold of it.
pub(crate) struct Built {
    pub room: Room,
    pub sent: SentRoom,
    /// The ids of the timeline's events (a room new to the client gets only their receipts).
    pub timeline_ids: BTreeSet<String>,
}

impl RoomService {
    /// The room as this response sends it, or `None` when the client holds it already and
    /// nothing it asked for changed.
    pub(crate) fn sliding_room(
        &self,
        window: &RoomWindow<'_>,
        room_id: &RoomId,
        ask: &RoomAsk<'_>,
    ) -> Result<Option<Built>> {
        match ask.record.membership {
            MembershipState::Invite | MembershipState::Knock => self.sliding_invite(window, room_id, ask),
            _ => self.sliding_member_room(window, room_id, ask),
        }
    }

    /// An invite or knock: the stripped state the user may see, once.
    fn sliding_invite(&self, window: &RoomWindow<'_>, room_id: &RoomId, ask: &RoomAsk<'_>) -> Result<Option<Built>> {
        let RoomAsk {
            record,
            config,
            sent,
            is_dm,
        } = *ask;
        if sent.is_some_and(|sent| sent.upto >= record.count) {
            return Ok(None);
        }
        let stripped = self.stripped_state(room_id, &window.user.user_id)?;
        let content_of = |kind: &str| {
            stripped
                .iter()
                .find(|e| e["type"] == kind && e["state_key"] == "")
                .map(|e| e["content"].clone())
        };
        let mut room = Room::new();
        room.initial = Some(true);
        room.name = content_of("m.room.name").and_then(|c| c["name"].as_str().map(str::to_owned));
        if let Some(url) = content_of("m.room.avatar").and_then(|c| c["url"].as_str().map(str::to_owned)) {
            room.avatar = JsOption::Some(OwnedMxcUri::from(url));
        }
        room.is_dm = is_dm.then_some(true);
        room.bump_stamp = Some(uint(record.count));
        if record.membership == MembershipState::Invite {
            room.invite_state = Some(raw_jsons(&stripped)?);
        }
        Ok(Some(Built {
            room,
            sent: SentRoom {
                upto: record.count,
                required_state: config.required_state.clone(),
                lazy_members: Box::default(),
                stripped: true,
            },
            timeline_ids: BTreeSet::new(),
        }))
    }

    /// A room the user is in, or left since the connection's last response (its history up
    /// to the departure).
    fn sliding_member_room(
        &self,
        window: &RoomWindow<'_>,
        room_id: &RoomId,
        ask: &RoomAsk<'_>,
    ) -> Result<Option<Built>> {
        let RoomAsk {
            record,
            config,
            sent,
            is_dm,
        } = *ask;
        let user = window.user;
        let upto = match record.membership {
            MembershipState::Join => window.until,
            _ => record.count.min(window.until),
        };
        let since = sent.map(|sent| sent.upto);
        let state_widened = sent.is_some_and(|sent| !config.required_state.is_covered_by(&sent.required_state));
        let membership_changed = since.is_some_and(|since| record.count > since);
        let untouched = since.is_some_and(|since| {
            since >= upto
                || window
                    .since
                    .is_some_and(|last| since >= last && !window.changed.contains(room_id) && !membership_changed)
        });
        if untouched && !state_widened {
            return Ok(None);
        }
        let slice = if config.timeline_limit == 0 {
            Default::default()
        } else {
            let mut filter = SyncFilter::default();
            filter.room.timeline.limit = Some(config.timeline_limit);
            self.timeline_slice(user, room_id, upto, since, &filter)?
        };
        let current = match record.membership {
            MembershipState::Join => self.rooms().current_state(room_id)?,
            _ => match self.state_at_position(room_id, upto)? {
                Some(state) => state,
                None => self.rooms().current_state(room_id)?,
            },
        };
        // State keys changed since the client's copy: from every event of the window, not only
        // those the (limited) timeline carries.
        let changed_keys = match since {
            Some(since) => self.changed_state_keys(room_id, since, upto)?,
            None => BTreeSet::new(),
        };
        let whole_state = sent.is_none() || state_widened;
        let mut lazy_sent: BTreeSet<OwnedUserId> = match sent {
            Some(sent) if !whole_state => sent.lazy_members.iter().cloned().collect(),
            _ => BTreeSet::new(),
        };
        let mut required = self.required_state_events(
            user,
            &current,
            &config.required_state,
            (!whole_state).then_some(&changed_keys),
        )?;
        if config.required_state.lazy_members() {
            // The senders of the timeline, the members its member events are about, and on
            // later responses every membership change since the client's copy.
            let mut senders: BTreeSet<OwnedUserId> = slice
                .events
                .iter()
                .flat_map(|e| {
                    let member = (e["type"] == "m.room.member")
                        .then(|| e["state_key"].as_str())
                        .flatten();
                    [e["sender"].as_str(), member]
                })
                .flatten()
                .filter_map(|user| UserId::parse(user).ok())
                .collect();
            senders.extend(
                changed_keys
                    .iter()
                    .filter(|(kind, _)| kind == "m.room.member")
                    .filter_map(|(_, key)| UserId::parse(key.as_str()).ok()),
            );
            for sender in senders {
                let already = required
                    .iter()
                    .any(|e| e["type"] == "m.room.member" && e["state_key"] == sender.as_str());
                let changed = changed_keys.contains(&("m.room.member".to_owned(), sender.to_string()));
                if already || (lazy_sent.contains(&sender) && !changed) {
                    lazy_sent.insert(sender);
                    continue;
                }
                if let Some(short) = self
                    .rooms()
                    .state_event_id(&current, "m.room.member", sender.as_str())?
                    && let Some(event) = self.render(short, Some(user))?
                {
                    required.push(event);
                }
                lazy_sent.insert(sender);
            }
        }
        if !whole_state && slice.events.is_empty() && required.is_empty() && !membership_changed {
            // Something of the room changed (typing, a receipt, an event the user may not see)
            // but nothing this room's response carries: the client's copy stays as it is.
            return Ok(None);
        }
        let mut room = Room::new();
        if sent.is_none() {
            room.initial = Some(true);
        }
        let touched = |kind: &str| whole_state || changed_keys.iter().any(|(k, _)| k == kind);
        if touched("m.room.name") {
            room.name = self
                .sliding_state_content(&current, "m.room.name")?
                .and_then(|c| c["name"].as_str().map(str::to_owned));
        }
        if touched("m.room.avatar") {
            let url = self
                .sliding_state_content(&current, "m.room.avatar")?
                .and_then(|c| c["url"].as_str().map(OwnedMxcUri::from));
            room.avatar = match url {
                Some(url) => JsOption::Some(url),
                None if whole_state => JsOption::Undefined,
                None => JsOption::Null,
            };
        }
        if touched("m.room.member") || touched("m.room.name") || touched("m.room.canonical_alias") {
            let summary = self.summary(&current, room_id, &user.user_id)?;
            room.joined_count = summary.joined_member_count;
            room.invited_count = summary.invited_member_count;
            if !summary.heroes.is_empty() {
                room.heroes = Some(self.heroes(&current, &summary.heroes)?);
            }
        }
        room.is_dm = is_dm.then_some(true);
        let counts = self
            .unread_counts(&user.user_id, room_id, window.ruleset, upto)?
            .total();
        let mut unread = UnreadNotificationsCount::new();
        unread.notification_count = Some(uint(counts.notifications));
        unread.highlight_count = Some(uint(counts.highlights));
        room.unread_notifications = unread;
        // Live: what arrived after the connection's last response (none on a new connection).
        let live = slice
            .counts
            .iter()
            .filter(|count| window.since.is_some_and(|since| **count > since))
            .count();
        room.num_live = Some(uint(live as u64));
        room.limited = slice.limited;
        room.prev_batch = Some(
            slice
                .counts
                .iter()
                .min()
                .map_or(upto, |first| first.saturating_sub(1))
                .to_string(),
        );
        let timeline_ids = slice
            .events
            .iter()
            .filter_map(|e| e["event_id"].as_str().map(str::to_owned))
            .collect();
        room.timeline = raw_jsons(&slice.events)?;
        room.required_state = raw_jsons(&required)?;
        Ok(Some(Built {
            room,
            sent: SentRoom {
                upto,
                required_state: config.required_state.clone(),
                lazy_members: lazy_sent.into_iter().collect(),
                stripped: false,
            },
            timeline_ids,
        }))
    }

    /// The state events `required_state` asks for, all of them, or (`only`) those whose
    /// `(type, state_key)` is in the set.
    fn required_state_events(
        &self,
        user: &AuthedUser,
        current: &RoomState,
        required: &RequiredState,
        only: Option<&BTreeSet<(String, String)>>,
    ) -> Result<Vec<Value>> {
        let rooms = self.rooms();
        let mut shorts = Vec::new();
        match only {
            Some(keys) => {
                for (kind, key) in keys {
                    if required.wants(kind, key, &user.user_id)
                        && let Some(short) = rooms.state_event_id(current, kind, key)?
                    {
                        shorts.push(short);
                    }
                }
            }
            None if required.needs_walk() => {
                for (state_key, short) in current.map.iter() {
                    let (kind, key) = rooms.db().state_key_of(*state_key)?;
                    if required.wants(&kind, &key, &user.user_id) {
                        shorts.push(*short);
                    }
                }
            }
            None => {
                for (kind, key) in required.exact(&user.user_id) {
                    if let Some(short) = rooms.state_event_id(current, &kind, &key)? {
                        shorts.push(short);
                    }
                }
            }
        }
        let mut events = Vec::with_capacity(shorts.len());
        for short in shorts {
            if let Some(event) = self.render(short, Some(user))? {
                events.push(event);
            }
        }
        Ok(events)
    }

    /// `(type, state_key)` of every state event in the room's timeline in `(since, upto]`.
    fn changed_state_keys(&self, room_id: &RoomId, since: u64, upto: u64) -> Result<BTreeSet<(String, String)>> {
        let db = self.rooms().db();
        let mut keys = BTreeSet::new();
        let mut from = since;
        loop {
            let page = db.timeline(room_id, from, Some(upto.saturating_add(1)), Direction::Forward, 200)?;
            let Some(&(last, _)) = page.last() else {
                return Ok(keys);
            };
            for (_, short) in page {
                if let Some(pdu) = self.rooms().pdu(short)?
                    && let Some(state_key) = &pdu.state_key
                {
                    keys.insert((pdu.kind.to_string(), state_key.clone()));
                }
            }
            from = last;
        }
    }

    /// The content of a state event with an empty state key.
    fn sliding_state_content(&self, state: &RoomState, kind: &str) -> Result<Option<Value>> {
        Ok(self
            .rooms()
            .state_event(state, &StateEventType::from(kind), "")?
            .and_then(|pdu| serde_json::from_str(pdu.content.get()).ok()))
    }

    /// Heroes with the names and avatars of their member events.
    fn heroes(&self, state: &RoomState, users: &[OwnedUserId]) -> Result<Vec<Hero>> {
        let mut heroes = Vec::with_capacity(users.len());
        for user_id in users {
            let mut hero = Hero::new(user_id.clone());
            if let Some(member) = self
                .rooms()
                .state_event(state, &StateEventType::RoomMember, user_id.as_str())?
                && let Ok(content) = serde_json::from_str::<Value>(member.content.get())
            {
                hero.name = content["displayname"].as_str().map(str::to_owned);
                hero.avatar = content["avatar_url"].as_str().map(OwnedMxcUri::from);
            }
            heroes.push(hero);
        }
        Ok(heroes)
    }
}

/// A count as the spec's integer.
pub(crate) fn uint(count: u64) -> UInt {
    UInt::try_from(count).unwrap_or(UInt::MAX)
}
