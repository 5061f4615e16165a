//! Reading a room's history over federation: `/event`, `/state`, `/state_ids`, `/event_auth`,
//! `/get_missing_events` and `/backfill`. Every answer is limited to servers allowed to see the
//! room; others get 403 `M_FORBIDDEN`.

use accord_service::rooms::Rooms;
use accord_service::{Error, Services};
use ruma::{
    CanonicalJsonObject, EventId, MilliSecondsSinceUnixEpoch, OwnedEventId, RoomId, ServerName,
    api::federation::{
        authorization::get_event_authorization::v1 as event_auth,
        backfill::get_backfill::v1 as backfill,
        event::{
            get_event::v1 as get_event, get_missing_events::v1 as missing_events, get_room_state::v1 as get_state,
            get_room_state_ids::v1 as get_state_ids,
        },
    },
};
use serde_json::value::RawValue;

use crate::{ApiError, Result, Ruma};

fn raw(value: &CanonicalJsonObject) -> Result<Box<RawValue>> {
    serde_json::value::to_raw_value(value).map_err(|err| ApiError::from(Error::Internal(err.to_string())))
}

/// Refuses servers that may not see `event_id` in `room_id` (also when the event is unknown,
/// so probing learns nothing).
fn check_visible(rooms: &Rooms, origin: &ServerName, room_id: &RoomId, event_id: &EventId) -> Result<()> {
    if rooms.server_may_see(origin, room_id, event_id).map_err(Error::from)? {
        Ok(())
    } else {
        Err(ApiError::from(Error::forbidden(format!(
            "{origin} may not see event {event_id} of room {room_id}"
        ))))
    }
}

/// The events of `ids` that `origin` may see, in the same order.
fn visible_only(
    rooms: &Rooms,
    origin: &ServerName,
    room_id: &RoomId,
    ids: Vec<OwnedEventId>,
) -> Result<Vec<OwnedEventId>> {
    let mut visible = Vec::with_capacity(ids.len());
    for id in ids {
        if rooms.server_may_see(origin, room_id, &id).map_err(Error::from)? {
            visible.push(id);
        }
    }
    Ok(visible)
}

/// The events as other servers get them, skipping any no longer stored.
fn events_json(rooms: &Rooms, ids: &[OwnedEventId]) -> Result<Vec<Box<RawValue>>> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(json) = rooms.federation_event(id).map_err(Error::from)? {
            out.push(raw(&json)?);
        }
    }
    Ok(out)
}

/// # `GET /_matrix/federation/v1/event/{eventId}`
pub async fn get_event_route(services: Services, request: Ruma<get_event::Request>) -> Result<get_event::Response> {
    let rooms = services.rooms.rooms();
    let event_id = &request.body.event_id;
    let pdu = rooms
        .pdu_by_id(event_id)
        .map_err(Error::from)?
        .ok_or_else(|| ApiError::from(Error::not_found(format!("Event {event_id} not found"))))?;
    check_visible(rooms, &request.auth, &pdu.room_id, event_id)?;
    let json = rooms
        .federation_event(event_id)
        .map_err(Error::from)?
        .ok_or_else(|| ApiError::from(Error::not_found(format!("Event {event_id} not found"))))?;
    Ok(get_event::Response::new(
        services.config.server_name.clone(),
        MilliSecondsSinceUnixEpoch::now(),
        raw(&json)?,
    ))
}

/// # `GET /_matrix/federation/v1/state_ids/{roomId}`
pub async fn get_room_state_ids_route(
    services: Services,
    request: Ruma<get_state_ids::Request>,
) -> Result<get_state_ids::Response> {
    let rooms = services.rooms.rooms();
    let body = &request.body;
    check_visible(rooms, &request.auth, &body.room_id, &body.event_id)?;
    let (pdu_ids, auth_chain_ids) = rooms.state_ids_at(&body.event_id).map_err(Error::from)?;
    Ok(get_state_ids::Response::new(auth_chain_ids, pdu_ids))
}

/// # `GET /_matrix/federation/v1/state/{roomId}`
pub async fn get_room_state_route(
    services: Services,
    request: Ruma<get_state::Request>,
) -> Result<get_state::Response> {
    let rooms = services.rooms.rooms();
    let body = &request.body;
    check_visible(rooms, &request.auth, &body.room_id, &body.event_id)?;
    let (pdu_ids, auth_chain_ids) = rooms.state_ids_at(&body.event_id).map_err(Error::from)?;
    Ok(get_state::Response::new(
        events_json(rooms, &auth_chain_ids)?,
        events_json(rooms, &pdu_ids)?,
    ))
}

/// # `GET /_matrix/federation/v1/event_auth/{roomId}/{eventId}`
pub async fn get_event_authorization_route(
    services: Services,
    request: Ruma<event_auth::Request>,
) -> Result<event_auth::Response> {
    let rooms = services.rooms.rooms();
    let body = &request.body;
    check_visible(rooms, &request.auth, &body.room_id, &body.event_id)?;
    let chain = rooms
        .auth_chain_of(std::iter::once(body.event_id.clone()))
        .map_err(Error::from)?;
    Ok(event_auth::Response::new(events_json(rooms, &chain)?))
}

/// # `POST /_matrix/federation/v1/get_missing_events/{roomId}`
pub async fn get_missing_events_route(
    services: Services,
    request: Ruma<missing_events::Request>,
) -> Result<missing_events::Response> {
    let rooms = services.rooms.rooms();
    let body = &request.body;
    let mut latest = Vec::with_capacity(body.latest_events.len());
    for event_id in &body.latest_events {
        check_visible(rooms, &request.auth, &body.room_id, event_id)?;
        latest.push(event_id.clone());
    }
    let limit = usize::try_from(u64::from(body.limit)).unwrap_or(usize::MAX);
    let ids = rooms
        .missing_events(
            &body.room_id,
            &body.earliest_events,
            &latest,
            limit,
            u64::from(body.min_depth),
        )
        .map_err(Error::from)?;
    let mut visible = visible_only(rooms, &request.auth, &body.room_id, ids)?;
    // Oldest first, as the events are to be applied.
    visible.reverse();
    Ok(missing_events::Response::new(events_json(rooms, &visible)?))
}

/// # `GET /_matrix/federation/v1/backfill/{roomId}`
pub async fn get_backfill_route(services: Services, request: Ruma<backfill::Request>) -> Result<backfill::Response> {
    let rooms = services.rooms.rooms();
    let body = &request.body;
    for event_id in &body.v {
        check_visible(rooms, &request.auth, &body.room_id, event_id)?;
    }
    let limit = usize::try_from(u64::from(body.limit)).unwrap_or(usize::MAX);
    let ids = rooms
        .backfill_events(&body.room_id, &body.v, limit)
        .map_err(Error::from)?;
    let visible = visible_only(rooms, &request.auth, &body.room_id, ids)?;
    Ok(backfill::Response::new(
        services.config.server_name.clone(),
        MilliSecondsSinceUnixEpoch::now(),
        events_json(rooms, &visible)?,
    ))
}
