//! A room's history for other servers: `/event`, `/state`, `/state_ids`, `/event_auth`,
//! `/get_missing_events` and `/backfill`. Every answer is limited to servers allowed to see
//! the room (its ACL, a joined user now, or one at the event under the history visibility
//! rules); others get 403 `M_FORBIDDEN`, also for unknown events, so probing learns nothing.

use accord_room::Rooms;
use ruma::{CanonicalJsonObject, EventId, OwnedEventId, RoomId, ServerName};
use serde_json::value::RawValue;

use crate::{Error, Result, Services};

/// Events as other servers get them (canonical JSON).
pub type EventsJson = Vec<Box<RawValue>>;

/// What `/get_missing_events` asks for.
#[derive(Debug)]
pub struct MissingEventsQuery<'a> {
    /// The room.
    pub room_id: &'a RoomId,
    /// Events the asking server has: the walk stops there.
    pub earliest: &'a [OwnedEventId],
    /// Events whose ancestors it lacks.
    pub latest: &'a [OwnedEventId],
    /// Most events to return.
    pub limit: usize,
    /// Events below this depth are left out.
    pub min_depth: u64,
}

impl Services {
    /// `/event/{eventId}`: the event as other servers get it.
    pub fn event_for_server(&self, origin: &ServerName, event_id: &EventId) -> Result<Box<RawValue>> {
        let rooms = self.rooms.rooms();
        let not_found = || Error::not_found(format!("Event {event_id} not found"));
        let pdu = rooms.pdu_by_id(event_id)?.ok_or_else(not_found)?;
        check_visible(rooms, origin, &pdu.room_id, event_id)?;
        raw(&rooms.federation_event(event_id)?.ok_or_else(not_found)?)
    }

    /// `/state_ids`: the ids of the state before `event_id` and of its auth chain.
    pub fn state_ids_for_server(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        event_id: &EventId,
    ) -> Result<(Vec<OwnedEventId>, Vec<OwnedEventId>)> {
        let rooms = self.rooms.rooms();
        check_visible(rooms, origin, room_id, event_id)?;
        Ok(rooms.state_ids_at(event_id)?)
    }

    /// `/state`: the state before `event_id` and its auth chain, as full events:
    /// `(state, auth_chain)`.
    pub fn state_for_server(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        event_id: &EventId,
    ) -> Result<(EventsJson, EventsJson)> {
        let (pdu_ids, auth_chain_ids) = self.state_ids_for_server(origin, room_id, event_id)?;
        let rooms = self.rooms.rooms();
        Ok((events_json(rooms, &pdu_ids)?, events_json(rooms, &auth_chain_ids)?))
    }

    /// `/event_auth`: the auth chain of `event_id`.
    pub fn event_auth_for_server(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        event_id: &EventId,
    ) -> Result<Vec<Box<RawValue>>> {
        let rooms = self.rooms.rooms();
        check_visible(rooms, origin, room_id, event_id)?;
        let chain = rooms.auth_chain_of(std::iter::once(event_id.to_owned()))?;
        events_json(rooms, &chain)
    }

    /// `/get_missing_events`: the visible events between `earliest` and `latest`, oldest
    /// first, as they are to be applied.
    pub fn missing_events_for_server(
        &self,
        origin: &ServerName,
        query: &MissingEventsQuery<'_>,
    ) -> Result<Vec<Box<RawValue>>> {
        let rooms = self.rooms.rooms();
        for event_id in query.latest {
            check_visible(rooms, origin, query.room_id, event_id)?;
        }
        let ids = rooms.missing_events(
            query.room_id,
            query.earliest,
            query.latest,
            query.limit,
            query.min_depth,
        )?;
        let mut ids = ids;
        ids.reverse();
        events_as_server_sees(rooms, origin, query.room_id, &ids)
    }

    /// `/backfill`: `from` and the visible events before them, at most `limit`.
    pub fn backfill_for_server(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        from: &[OwnedEventId],
        limit: usize,
    ) -> Result<Vec<Box<RawValue>>> {
        let rooms = self.rooms.rooms();
        for event_id in from {
            check_visible(rooms, origin, room_id, event_id)?;
        }
        let ids = rooms.backfill_events(room_id, from, limit)?;
        events_as_server_sees(rooms, origin, room_id, &ids)
    }
}

fn raw(value: &CanonicalJsonObject) -> Result<Box<RawValue>> {
    serde_json::value::to_raw_value(value).map_err(|err| Error::Internal(err.to_string()))
}

/// Refuses servers that may not see `event_id` in `room_id`.
fn check_visible(rooms: &Rooms, origin: &ServerName, room_id: &RoomId, event_id: &EventId) -> Result<()> {
    if rooms.server_may_see(origin, room_id, event_id)? {
        Ok(())
    } else {
        Err(Error::forbidden(format!(
            "{origin} may not see event {event_id} of room {room_id}"
        )))
    }
}

/// The events of `ids` as `origin` may see them, in the same order: whole where the history
/// visibility at each lets it, redacted where not. A redacted event keeps the room's graph
/// whole for the asking server while hiding what it may not read (spec: "Retrieving events",
/// servers may return redacted events; Synapse answers /get_missing_events and /backfill so).
fn events_as_server_sees(
    rooms: &Rooms,
    origin: &ServerName,
    room_id: &RoomId,
    ids: &[OwnedEventId],
) -> Result<Vec<Box<RawValue>>> {
    let rules = accord_room::rules_for(&rooms.room_version(room_id)?)?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let Some(short) = rooms.db().get_short_event_id(id)? else {
            continue;
        };
        let Some(json) = rooms.federation_event(id)? else {
            continue;
        };
        let json = if rooms.history_visible_to_server(origin, short)? {
            json
        } else {
            ruma::canonical_json::redact(json, &rules.redaction, None)
                .map_err(|err| Error::Internal(format!("event {id} failed to redact: {err}")))?
        };
        out.push(raw(&json)?);
    }
    Ok(out)
}

/// The events as other servers get them, skipping any no longer stored.
fn events_json(rooms: &Rooms, ids: &[OwnedEventId]) -> Result<Vec<Box<RawValue>>> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(json) = rooms.federation_event(id)? {
            out.push(raw(&json)?);
        }
    }
    Ok(out)
}
