//! Admin endpoints in the shape of Synapse's admin API (`/_synapse/admin/...`), so the tools
//! admins already use work. Each checks that the caller is a server admin, then calls the same
//! service methods as the client API.

mod media;
mod registration_tokens;
mod reports;
mod server_notices;
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
    router
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

/// The caller, if a server admin: 401 without a valid token, 403 `M_FORBIDDEN` otherwise.
fn admin(services: &Services, parts: &http::request::Parts) -> Result<AuthedUser> {
    let user = authenticate_parts(services, parts)?;
    if !services.accounts.is_admin(&user.user_id)? {
        return Err(ApiError::new(ErrorKind::Forbidden, "You are not a server admin"));
    }
    Ok(user)
}
