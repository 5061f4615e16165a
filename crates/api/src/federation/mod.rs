//! Server-server API handlers: version, keys and the notary, queries, joins, transactions,
//! reading history, and this server's media. Everything else is refused the Matrix way.

mod history;
mod jump_to_date;
mod keys;
mod media;
mod membership;
pub mod membership_v1;
mod query;
mod space;
mod transactions;
mod user_keys;
mod version;

use accord_service::Services;
use axum::Router;

use crate::router::{RumaRouter, with_fallbacks};

/// Builds the federation router over `services`.
pub fn router(services: Services) -> Router {
    let router = Router::new()
        .ruma_route(version::get_server_version_route)
        .ruma_route(keys::get_server_keys_route)
        .ruma_route(keys::get_remote_server_keys_route)
        .ruma_route(keys::get_remote_server_keys_batch_route)
        .ruma_route(query::get_profile_information_route)
        .ruma_route(query::get_room_information_route)
        .ruma_route(query::get_public_rooms_route)
        .ruma_route(query::get_public_rooms_filtered_route)
        .ruma_route(query::get_openid_userinfo_route)
        .ruma_route(membership::prepare_join_event_route)
        .ruma_route(membership::create_join_event_route)
        .ruma_route(membership::prepare_knock_event_route)
        .ruma_route(membership::create_knock_event_route)
        .ruma_route(membership::create_invite_route)
        .ruma_route(membership::prepare_leave_event_route)
        .ruma_route(membership::create_leave_event_route)
        .ruma_route(membership_v1::send_join_v1_route)
        .ruma_route(membership_v1::send_leave_v1_route)
        .ruma_route(transactions::send_transaction_message_route)
        .ruma_route(user_keys::get_keys_route)
        .ruma_route(user_keys::claim_keys_route)
        .ruma_route(user_keys::get_devices_route)
        .ruma_route(history::get_event_route)
        .ruma_route(history::get_room_state_ids_route)
        .ruma_route(history::get_room_state_route)
        .ruma_route(history::get_event_authorization_route)
        .ruma_route(history::get_missing_events_route)
        .ruma_route(history::get_backfill_route)
        .ruma_route(space::get_hierarchy_route)
        .ruma_route(jump_to_date::timestamp_to_event_route)
        // Media answers are streamed, not ruma's buffered multipart type.
        .route_with::<ruma::api::federation::authenticated_media::get_content::v1::Request, _, _, _>(
            media::get_content_route,
            std::convert::identity,
        )
        .route_with::<ruma::api::federation::authenticated_media::get_content_thumbnail::v1::Request, _, _, _>(
            media::get_content_thumbnail_route,
            std::convert::identity,
        );
    // The legacy download, which servers that predate federation media ask here.
    let router = crate::media::legacy_routes(router);
    with_fallbacks(router)
        .layer(axum::middleware::from_fn(crate::extract::hold_federation_permit))
        .with_state(services)
}
