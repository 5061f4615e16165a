//! Reading a room's history over federation: `/event`, `/state`, `/state_ids`, `/event_auth`,
//! `/get_missing_events` and `/backfill`. The handlers extract and render;
//! `accord_service::server_history` decides who may see what.

use accord_service::{Services, server_history::MissingEventsQuery};
use ruma::{
    MilliSecondsSinceUnixEpoch,
    api::federation::{
        authorization::get_event_authorization::v1 as event_auth,
        backfill::get_backfill::v1 as backfill,
        event::{
            get_event::v1 as get_event, get_missing_events::v1 as missing_events, get_room_state::v1 as get_state,
            get_room_state_ids::v1 as get_state_ids,
        },
    },
};

use crate::{Result, Ruma};

/// # `GET /_matrix/federation/v1/event/{eventId}`
pub async fn get_event_route(services: Services, request: Ruma<get_event::Request>) -> Result<get_event::Response> {
    let pdu = services.event_for_server(&request.auth, &request.body.event_id)?;
    Ok(get_event::Response::new(
        services.config.server_name.clone(),
        MilliSecondsSinceUnixEpoch::now(),
        pdu,
    ))
}

/// # `GET /_matrix/federation/v1/state_ids/{roomId}`
pub async fn get_room_state_ids_route(
    services: Services,
    request: Ruma<get_state_ids::Request>,
) -> Result<get_state_ids::Response> {
    let body = &request.body;
    let (pdu_ids, auth_chain_ids) = services.state_ids_for_server(&request.auth, &body.room_id, &body.event_id)?;
    Ok(get_state_ids::Response::new(auth_chain_ids, pdu_ids))
}

/// # `GET /_matrix/federation/v1/state/{roomId}`
pub async fn get_room_state_route(
    services: Services,
    request: Ruma<get_state::Request>,
) -> Result<get_state::Response> {
    let body = &request.body;
    let (state, auth_chain) = services.state_for_server(&request.auth, &body.room_id, &body.event_id)?;
    Ok(get_state::Response::new(auth_chain, state))
}

/// # `GET /_matrix/federation/v1/event_auth/{roomId}/{eventId}`
pub async fn get_event_authorization_route(
    services: Services,
    request: Ruma<event_auth::Request>,
) -> Result<event_auth::Response> {
    let body = &request.body;
    let chain = services.event_auth_for_server(&request.auth, &body.room_id, &body.event_id)?;
    Ok(event_auth::Response::new(chain))
}

/// # `POST /_matrix/federation/v1/get_missing_events/{roomId}`
pub async fn get_missing_events_route(
    services: Services,
    request: Ruma<missing_events::Request>,
) -> Result<missing_events::Response> {
    let body = &request.body;
    let events = services.missing_events_for_server(
        &request.auth,
        &MissingEventsQuery {
            room_id: &body.room_id,
            earliest: &body.earliest_events,
            latest: &body.latest_events,
            limit: crate::count::count(body.limit),
            min_depth: u64::from(body.min_depth),
        },
    )?;
    Ok(missing_events::Response::new(events))
}

/// # `GET /_matrix/federation/v1/backfill/{roomId}`
pub async fn get_backfill_route(services: Services, request: Ruma<backfill::Request>) -> Result<backfill::Response> {
    let body = &request.body;
    let limit = crate::count::count(body.limit);
    let events = services.backfill_for_server(&request.auth, &body.room_id, &body.v, limit)?;
    Ok(backfill::Response::new(
        services.config.server_name.clone(),
        MilliSecondsSinceUnixEpoch::now(),
        events,
    ))
}
