//! Unread notification and highlight counts: events after what the user has read whose push
//! rules say notify, split between the main timeline and each thread (spec "Receiving
//! notifications" and "Threaded read receipts").
//!
//! An event is read when an unthreaded receipt (or the user's join) is at or after it, or when
//! the receipt of its own thread (`main` for the main timeline) is. Counts are kept per user and
//! room in memory and extended with the events since the last count, so a sync costs
//! O(new events); any moved receipt or a restart recounts once.

use std::collections::BTreeMap;

use accord_core::Pdu;
use accord_db::Direction;
use ruma::events::room::member::MembershipState;
use ruma::{
    OwnedEventId, RoomId, UInt, UserId,
    push::{Action, PushConditionRoomCtx, Ruleset},
    serde::Raw,
};
use serde_json::{Map, Value};

use super::RoomService;
use super::receipts::{READ, READ_PRIVATE};
use crate::Result;

/// Most events examined when counting unread notifications in one go.
const MAX_UNREAD_SCAN: usize = 1000;

/// Users x rooms whose counts are kept in memory.
const MAX_CACHED_UNREAD: usize = 100_000;

/// Notifying and highlighting events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Events whose push actions notify.
    pub notifications: u64,
    /// Of those, events that also highlight.
    pub highlights: u64,
}

impl Counts {
    fn add(&mut self, other: Counts) {
        self.notifications += other.notifications;
        self.highlights += other.highlights;
    }
}

/// One user's unread counts in one room.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnreadCounts {
    /// Events of the main timeline (thread roots included).
    pub main: Counts,
    /// Events in threads, by thread root; threads with nothing unread are absent.
    pub threads: BTreeMap<OwnedEventId, Counts>,
}

impl UnreadCounts {
    /// The room as a whole, as a client unaware of threads sees it.
    pub fn total(&self) -> Counts {
        let mut total = self.main;
        for counts in self.threads.values() {
            total.add(*counts);
        }
        total
    }
}

/// How far a user has read in a room.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ReadPositions {
    /// Everything at or below this stream position is read (unthreaded receipts, the join).
    floor: u64,
    /// The `main` receipt.
    main: u64,
    /// Each thread's receipt, by root event ID.
    threads: BTreeMap<String, u64>,
}

impl ReadPositions {
    fn read_up_to(&self, thread: Option<&OwnedEventId>) -> u64 {
        let own = match thread {
            None => self.main,
            Some(root) => self.threads.get(root.as_str()).copied().unwrap_or(0),
        };
        own.max(self.floor)
    }
}

/// A running count and what it was counted against.
#[derive(Debug, Clone)]
pub(crate) struct CachedUnread {
    positions: ReadPositions,
    /// Events up to here are counted.
    counted_until: u64,
    counts: UnreadCounts,
}

impl RoomService {
    /// The user's unread counts in a room up to stream position `until`.
    pub(crate) fn unread_counts(
        &self,
        user_id: &UserId,
        room_id: &RoomId,
        ruleset: &Ruleset,
        until: u64,
    ) -> Result<UnreadCounts> {
        let positions = self.read_positions(user_id, room_id)?;
        let key = (user_id.to_owned(), room_id.to_owned());
        let cached = self.unread.lock().get(&key).cloned();
        let mut entry = match cached {
            Some(entry) if entry.positions == positions && entry.counted_until <= until => entry,
            _ => CachedUnread {
                counted_until: positions.floor,
                positions,
                counts: UnreadCounts::default(),
            },
        };
        if entry.counted_until < until {
            self.count_notifying(user_id, room_id, ruleset, &mut entry, until)?;
            entry.counted_until = until;
            let mut cache = self.unread.lock();
            if cache.len() >= MAX_CACHED_UNREAD {
                cache.clear();
            }
            cache.insert(key, entry.clone());
        }
        Ok(entry.counts)
    }

    /// The user's join and receipts (public or private) in a room.
    fn read_positions(&self, user_id: &UserId, room_id: &RoomId) -> Result<ReadPositions> {
        let db = self.rooms.db();
        let joined_at = db.get_membership(user_id, room_id)?.map(|m| m.count).unwrap_or(0);
        let mut positions = ReadPositions {
            floor: joined_at,
            main: 0,
            threads: BTreeMap::new(),
        };
        for (slot, receipt) in db.receipts_of_user(room_id, user_id)? {
            if slot.kind != READ && slot.kind != READ_PRIVATE {
                continue;
            }
            let position = match slot.thread {
                None => &mut positions.floor,
                Some(thread) if thread == "main" => &mut positions.main,
                Some(root) => positions.threads.entry(root).or_default(),
            };
            *position = (*position).max(receipt.event_count);
        }
        Ok(positions)
    }

    /// Adds the unread notifying events in `(entry.counted_until, until]` not sent by the user.
    fn count_notifying(
        &self,
        user_id: &UserId,
        room_id: &RoomId,
        ruleset: &Ruleset,
        entry: &mut CachedUnread,
        until: u64,
    ) -> Result<()> {
        let db = self.rooms.db();
        let events = db.timeline(
            room_id,
            entry.counted_until,
            Some(until.saturating_add(1)),
            Direction::Forward,
            MAX_UNREAD_SCAN,
        )?;
        if events.is_empty() {
            return Ok(());
        }
        let context = self.push_context(user_id, room_id)?;
        let ignored = crate::ignored_users::ignored_by(db, user_id)?;
        for (count, short) in events {
            let Some(pdu) = self.rooms.pdu(short)? else { continue };
            if pdu.sender == user_id || pdu.rejected || ignored.contains(&pdu.sender) {
                continue;
            }
            let thread = self.thread_root(&pdu)?;
            if count <= entry.positions.read_up_to(thread.as_ref()) {
                continue;
            }
            let counts = push_counts(&pdu, ruleset, &context);
            if counts.notifications == 0 {
                continue;
            }
            match thread {
                None => entry.counts.main.add(counts),
                Some(root) => entry.counts.threads.entry(root).or_default().add(counts),
            }
        }
        Ok(())
    }

    /// The room facts push conditions look at, for `user_id`.
    pub(crate) fn push_context(&self, user_id: &UserId, room_id: &RoomId) -> Result<PushConditionRoomCtx> {
        let mut context = self.room_push_context(room_id)?;
        self.push_context_for(&mut context, user_id)?;
        Ok(context)
    }

    /// Points a room's push context at `user_id` (their id and display name).
    pub(crate) fn push_context_for(&self, context: &mut PushConditionRoomCtx, user_id: &UserId) -> Result<()> {
        context.user_display_name = self
            .rooms
            .db()
            .profile(user_id)?
            .get("displayname")
            .and_then(Value::as_str)
            .unwrap_or(user_id.localpart())
            .to_owned();
        context.user_id = user_id.to_owned();
        Ok(())
    }

    /// The push context of a room, for no user yet ([`Self::push_context_for`] picks one):
    /// members are counted and power levels read once for all its users.
    pub(crate) fn room_push_context(&self, room_id: &RoomId) -> Result<PushConditionRoomCtx> {
        let db = self.rooms.db();
        let members = db
            .members_of_room(room_id)?
            .into_iter()
            .filter(|(_, m)| *m == MembershipState::Join)
            .count();
        let nobody = ruma::OwnedUserId::try_from(format!("@_:{}", self.config.server_name))
            .map_err(|err| crate::Error::Internal(err.to_string()))?;
        let context = PushConditionRoomCtx::new(
            room_id.to_owned(),
            UInt::try_from(members).unwrap_or(UInt::MAX),
            nobody,
            String::new(),
        );
        // Power levels answer `sender_notification_permission` (who may notify `@room`): the
        // room's current ones, as an approximation of those at each event.
        let state = self.rooms.current_state(room_id)?;
        Ok(match self.room_power_levels(&state) {
            Ok(levels) => context.with_power_levels(levels.into()),
            Err(_) => context,
        })
    }

    /// The thread `pdu` belongs to: the root it replies to with `m.thread`, or, for an event
    /// relating to a thread reply (an edit, a reaction), that reply's thread. `None`: the main
    /// timeline (thread roots, and references to them, are there).
    pub(crate) fn thread_root(&self, pdu: &Pdu) -> Result<Option<OwnedEventId>> {
        let Some((parent, rel_type)) = accord_room::relation_of(pdu) else {
            return Ok(None);
        };
        if rel_type == "m.thread" {
            return Ok(Some(parent));
        }
        let Some(parent) = self.rooms.pdu_by_id(&parent)? else {
            return Ok(None);
        };
        Ok(accord_room::relation_of(&parent)
            .filter(|(_, rel_type)| rel_type == "m.thread")
            .map(|(root, _)| root))
    }
}

/// The push actions the user's rules (whose room facts are `context`) give one event.
pub(crate) fn push_actions(pdu: &Pdu, ruleset: &Ruleset, context: &PushConditionRoomCtx) -> Vec<Action> {
    let event = pdu.to_client_event(Map::new());
    let Ok(raw) = serde_json::value::to_raw_value(&event) else {
        return Vec::new();
    };
    let raw: Raw<ruma::events::AnySyncTimelineEvent> = Raw::from_json(raw);
    futures::executor::block_on(ruleset.get_actions(&raw, context)).to_vec()
}

/// What the user's push rules make of one event, counted.
fn push_counts(pdu: &Pdu, ruleset: &Ruleset, context: &PushConditionRoomCtx) -> Counts {
    let actions = push_actions(pdu, ruleset, context);
    let notifies = actions.iter().any(Action::should_notify);
    Counts {
        notifications: u64::from(notifies),
        highlights: u64::from(notifies && actions.iter().any(Action::is_highlight)),
    }
}
