//! The local half of "jump to date" (`/timestamp_to_event`): the event of a room closest to a
//! time in one direction, from the timeline's time index, among those the asker may see.

use accord_db::{Direction, rooms::TimedEvent};
use ruma::{OwnedEventId, RoomId, ServerName, UserId};

use super::RoomService;
use crate::{Error, Result};

/// Candidates examined past ones the asker may not see.
const MAX_CANDIDATES: usize = 200;

/// An event found by time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundByTime {
    /// The event.
    pub event_id: OwnedEventId,
    /// Its `origin_server_ts`.
    pub ts: u64,
    /// Whether history may be missing between it and `ts` (a hole in the timeline on that
    /// side, or the room's start on this server, when the room began elsewhere): another
    /// server may know a closer event.
    pub near_gap: bool,
}

/// Who is asking: a local user (history visibility for them) or another server.
#[derive(Debug, Clone, Copy)]
pub enum Asker<'a> {
    /// A local user, who must be in the room.
    User(&'a UserId),
    /// Another server, answered from what it may see.
    Server(&'a ServerName),
}

impl RoomService {
    /// The visible event closest to `ts` in `direction` (at or before it backward, at or after
    /// it forward); ties in time go to the later event backward and the earlier forward.
    pub fn event_by_time(
        &self,
        asker: Asker<'_>,
        room_id: &RoomId,
        ts: u64,
        direction: Direction,
    ) -> Result<Option<FoundByTime>> {
        match asker {
            Asker::User(user_id) => drop(self.readable_state(room_id, user_id)?),
            Asker::Server(server) if !self.rooms.server_allowed_in_room(room_id, server)? => {
                return Err(Error::forbidden(format!(
                    "{server} is denied by the server ACL of {room_id}"
                )));
            }
            Asker::Server(_) => {}
        }
        let db = self.rooms.db();
        let visible = db.visible_count();
        for TimedEvent { ts, count, short } in db.events_by_time(room_id, ts, direction, MAX_CANDIDATES)? {
            if count > visible {
                continue;
            }
            let meta = db.event_meta(short)?;
            let may_see = match asker {
                Asker::User(user_id) => self.can_see_with(user_id, short, &meta)?,
                Asker::Server(server) => self.rooms.server_may_see(server, room_id, &meta.event_id)?,
            };
            if !may_see {
                continue;
            }
            let near_gap = self.gap_beside(room_id, count, meta.gap_before, direction)?;
            return Ok(Some(FoundByTime {
                event_id: meta.event_id,
                ts,
                near_gap,
            }));
        }
        Ok(None)
    }

    /// Whether history may be missing next to the event at `count` on the side the search
    /// came from: before it for a forward search, after it for a backward one.
    fn gap_beside(&self, room_id: &RoomId, count: u64, gap_before: bool, direction: Direction) -> Result<bool> {
        let db = self.rooms.db();
        match direction {
            Direction::Forward => {
                if gap_before {
                    return Ok(true);
                }
                let earlier = db.timeline(room_id, count, None, Direction::Backward, 1)?;
                Ok(earlier.is_empty() && self.rooms.backfill_point(room_id)?.is_some())
            }
            Direction::Backward => {
                let next = db.timeline(room_id, count.saturating_add(1), None, Direction::Forward, 1)?;
                match next.first() {
                    Some((_, short)) => Ok(db.event_meta(*short)?.gap_before),
                    None => Ok(false),
                }
            }
        }
    }
}

/// The spec's 404 when nothing is found.
pub fn nothing_at(ts: u64, direction: Direction) -> Error {
    let dir = match direction {
        Direction::Forward => "forwards",
        Direction::Backward => "backwards",
    };
    Error::not_found(format!("No event found from {ts} {dir}"))
}
