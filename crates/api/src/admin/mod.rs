//! Admin endpoints in the shape of Synapse's admin API (`/_synapse/admin/...`), so the tools
//! admins already use work. Each checks that the caller is a server admin, then calls the same
//! service methods as the client API.

mod audit_log;
pub(crate) mod audit_trail;
mod backup;
mod media;
mod registration_tokens;
mod reports;
mod request;
mod room_deletion;
mod rooms;
mod server_notices;
mod server_stats;
mod user_accounts;
mod user_sessions;
mod users;

use accord_service::{AuthedUser, Services};
use axum::{
    Router,
    routing::{delete, get, post, put},
};
use ruma::api::error::ErrorKind;

use crate::{ApiError, Result, extract::authenticate_parts};

/// Registers the admin routes.
pub(crate) fn routes(router: Router<Services>) -> Router<Services> {
    server_routes(room_routes(user_routes(audit_routes(router))))
        .route(
            "/_synapse/admin/v1/media/{server_name}/{media_id}",
            delete(media::delete_media_route),
        )
        .route(
            "/_synapse/admin/v1/users/{user_id}/media",
            delete(media::delete_user_media_route),
        )
        .route(
            "/_synapse/admin/v1/media/quarantine/{server_name}/{media_id}",
            post(media::quarantine_route),
        )
        .route(
            "/_synapse/admin/v1/media/unquarantine/{server_name}/{media_id}",
            post(media::unquarantine_route),
        )
        .route(
            "/_synapse/admin/v1/purge_media_cache",
            post(media::purge_media_cache_route),
        )
        .route("/_synapse/admin/v1/event_reports", get(reports::list_reports_route))
        .route(
            "/_synapse/admin/v1/users/{user_id}/override_ratelimit",
            get(users::override_ratelimit_route)
                .post(users::override_ratelimit_route)
                .delete(users::override_ratelimit_route),
        )
        .route("/_synapse/admin/v1/suspend/{user_id}", put(users::suspend_route))
        .route(
            "/_synapse/admin/v1/registration_tokens",
            get(registration_tokens::list_route),
        )
        .route(
            "/_synapse/admin/v1/registration_tokens/new",
            post(registration_tokens::create_route),
        )
        .route(
            "/_synapse/admin/v1/registration_tokens/{token}",
            get(registration_tokens::token_route)
                .put(registration_tokens::token_route)
                .delete(registration_tokens::token_route),
        )
        .route(
            "/_synapse/admin/v1/send_server_notice",
            post(server_notices::send_route),
        )
        .route(
            "/_synapse/admin/v1/send_server_notice/{txn_id}",
            put(server_notices::send_txn_route),
        )
        .route(
            "/_synapse/admin/v1/event_reports/{report_id}",
            get(reports::get_report_route).delete(reports::delete_report_route),
        )
}

/// Accounts and their sessions.
fn user_routes(router: Router<Services>) -> Router<Services> {
    router
        .route("/_synapse/admin/v2/users", get(user_accounts::list_route))
        .route(
            "/_synapse/admin/v2/users/{user_id}",
            get(user_accounts::get_route).put(user_accounts::put_route),
        )
        .route(
            "/_synapse/admin/v1/deactivate/{user_id}",
            post(user_accounts::deactivate_route),
        )
        .route(
            "/_synapse/admin/v1/reset_password/{user_id}",
            post(user_accounts::reset_password_route),
        )
        .route(
            "/_synapse/admin/v1/users/{user_id}/admin",
            get(user_accounts::admin_flag_route).put(user_accounts::admin_flag_route),
        )
        .route(
            "/_synapse/admin/v1/users/{user_id}/shadow_ban",
            post(user_accounts::shadow_ban_route).delete(user_accounts::shadow_ban_route),
        )
        .route(
            "/_synapse/admin/v1/username_available",
            get(user_accounts::username_available_route),
        )
        .route("/_synapse/admin/v1/whois/{user_id}", get(user_sessions::whois_route))
        .route(
            "/_matrix/client/v3/admin/whois/{user_id}",
            get(user_sessions::whois_route),
        )
        .route(
            "/_synapse/admin/v2/users/{user_id}/devices",
            get(user_sessions::devices_route).post(user_sessions::devices_route),
        )
        .route(
            "/_synapse/admin/v2/users/{user_id}/devices/{device_id}",
            get(user_sessions::device_route)
                .put(user_sessions::device_route)
                .delete(user_sessions::device_route),
        )
        .route(
            "/_synapse/admin/v2/users/{user_id}/delete_devices",
            post(user_sessions::delete_devices_route),
        )
        .route(
            "/_synapse/admin/v1/users/{user_id}/joined_rooms",
            get(user_sessions::joined_rooms_route),
        )
        .route(
            "/_synapse/admin/v1/users/{user_id}/login",
            post(user_sessions::login_as_route),
        )
        .route(
            "/_accord/admin/v1/users/{user_id}/export",
            get(user_sessions::export_route),
        )
}

/// Federation destinations and statistics.
fn server_routes(router: Router<Services>) -> Router<Services> {
    router
        .route(
            "/_synapse/admin/v1/federation/destinations",
            get(server_stats::destinations_route),
        )
        .route(
            "/_synapse/admin/v1/federation/destinations/{destination}",
            get(server_stats::destination_route),
        )
        .route(
            "/_synapse/admin/v1/federation/destinations/{destination}/rooms",
            get(server_stats::destination_rooms_route),
        )
        .route(
            "/_synapse/admin/v1/federation/destinations/{destination}/reset_connection",
            post(server_stats::reset_connection_route),
        )
        .route(
            "/_synapse/admin/v1/statistics/users/media",
            get(server_stats::media_usage_route),
        )
        .route(
            "/_synapse/admin/v1/statistics/database/rooms",
            get(server_stats::room_sizes_route),
        )
}

/// Rooms.
fn room_routes(router: Router<Services>) -> Router<Services> {
    router
        .route("/_synapse/admin/v1/rooms", get(rooms::list_route))
        .route(
            "/_synapse/admin/v1/rooms/{room_id}",
            get(rooms::details_route).delete(room_deletion::delete_route),
        )
        .route(
            "/_synapse/admin/v2/rooms/{room_id}",
            delete(room_deletion::delete_v2_route),
        )
        .route(
            "/_synapse/admin/v2/rooms/{room_id}/delete_status",
            get(room_deletion::room_status_route),
        )
        .route(
            "/_synapse/admin/v2/rooms/delete_status/{delete_id}",
            get(room_deletion::status_route),
        )
        .route("/_synapse/admin/v1/rooms/{room_id}/members", get(rooms::members_route))
        .route("/_synapse/admin/v1/rooms/{room_id}/state", get(rooms::state_route))
        .route(
            "/_synapse/admin/v1/rooms/{room_id}/messages",
            get(rooms::messages_route),
        )
        .route(
            "/_synapse/admin/v1/rooms/{room_id}/forward_extremities",
            get(rooms::forward_extremities_route).delete(rooms::forward_extremities_route),
        )
        .route(
            "/_synapse/admin/v1/rooms/{room_id}/block",
            get(rooms::block_route).put(rooms::block_route),
        )
        .route(
            "/_synapse/admin/v1/rooms/{room_id}/make_room_admin",
            post(rooms::make_room_admin_route),
        )
        .route(
            "/_synapse/admin/v1/purge_history/{room_id}",
            post(rooms::purge_history_route),
        )
        .route(
            "/_synapse/admin/v1/purge_history/{room_id}/{event_id}",
            post(rooms::purge_history_route),
        )
        .route(
            "/_synapse/admin/v1/purge_history_status/{purge_id}",
            get(rooms::purge_status_route),
        )
}

/// The audit log and the server's version.
fn audit_routes(router: Router<Services>) -> Router<Services> {
    router
        .route("/_accord/admin/v1/audit", get(audit_log::list_route))
        .route("/_accord/admin/v1/audit/export", get(audit_log::export_route))
        .route("/_accord/admin/v1/audit/verify", get(audit_log::verify_route))
        .route("/_accord/admin/v1/backup", post(backup::backup_route))
        .route("/_accord/admin/v1/retention/run", post(backup::retention_route))
        .route(
            "/_synapse/admin/v1/server_version",
            get(audit_log::server_version_route),
        )
}

/// The caller, if a server admin: 401 without a valid token, 403 `M_FORBIDDEN` otherwise.
fn admin(services: &Services, parts: &http::request::Parts) -> Result<AuthedUser> {
    let user = authenticate_parts(services, parts)?;
    if !services.accounts.is_admin(&user.user_id)? {
        return Err(ApiError::new(ErrorKind::Forbidden, "You are not a server admin"));
    }
    Ok(user)
}
