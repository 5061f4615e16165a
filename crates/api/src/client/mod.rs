//! Client-server API handlers, one file per spec section, and their route table.

pub mod account;
pub mod account_data;
mod account_data_delete;
pub mod account_moderation;
pub mod appservice;
pub mod dehydrated_device;
pub mod delayed_events;
pub mod device;
pub mod directory;
pub mod discovery;
pub mod event;
pub mod filter;
pub mod jump_to_date;
pub mod key_backup;
pub mod keys;
pub mod membership;
pub mod message;
pub mod presence;
pub mod profile;
pub mod push;
pub mod pushers;
pub mod receipt;
pub mod register;
pub mod relations;
pub mod report;
pub mod room;
pub mod room_upgrade;
pub mod search;
pub mod session;
pub mod sliding_sync;
pub mod space;
pub(crate) mod sso;
pub mod state;
pub mod sync;
mod sync_body;
pub mod tag;
pub mod thirdparty;
pub mod thread_subscriptions;
pub mod to_device;
pub mod typing;
pub mod user_directory;
pub mod well_known;

use accord_service::Services;
use axum::Router;

use crate::router::RumaRouter;

/// Registers every client-server endpoint, grouped as the spec groups them.
pub(crate) fn routes(router: Router<Services>) -> Router<Services> {
    router
        // Server discovery and capabilities
        .ruma_route(discovery::get_supported_versions_route)
        .route_with::<ruma::api::client::discovery::get_capabilities::v3::Request, _, _, _>(
            discovery::get_capabilities_route,
            discovery::render_capabilities,
        )
        // Account registration and management
        .ruma_route(account_moderation::is_user_locked_route)
        .ruma_route(account_moderation::lock_user_route)
        .ruma_route(account_moderation::is_user_suspended_route)
        .ruma_route(account_moderation::suspend_user_route)
        .ruma_route(register::get_username_availability_route)
        .ruma_route(register::register_route)
        .ruma_route(register::check_registration_token_validity_route)
        .ruma_route(account::whoami_route)
        .ruma_route(appservice::request_ping_route)
        .ruma_route(thirdparty::get_protocols_route)
        .ruma_route(thirdparty::get_protocol_route)
        .ruma_route(thirdparty::get_location_for_protocol_route)
        .ruma_route(thirdparty::get_user_for_protocol_route)
        .ruma_route(thirdparty::get_location_for_room_alias_route)
        .ruma_route(thirdparty::get_user_for_user_id_route)
        .ruma_route(account::request_openid_token_route)
        .ruma_route(account::change_password_route)
        .ruma_route(account::deactivate_route)
        // Login and sessions
        .ruma_route(session::get_login_types_route)
        .ruma_route(session::login_route)
        .ruma_route(session::refresh_token_route)
        .ruma_route(session::logout_route)
        .ruma_route(session::logout_all_route)
        .route(
            "/_matrix/client/v3/login/sso/redirect",
            axum::routing::get(sso::redirect_route),
        )
        .route(
            "/_matrix/client/r0/login/sso/redirect",
            axum::routing::get(sso::redirect_route),
        )
        .route(
            "/_matrix/client/v3/login/sso/redirect/{idp_id}",
            axum::routing::get(sso::redirect_with_provider_route),
        )
        .route(
            "/_matrix/client/r0/login/sso/redirect/{idp_id}",
            axum::routing::get(sso::redirect_with_provider_route),
        )
        .route(
            accord_service::sso::CALLBACK_PATH,
            axum::routing::get(sso::callback_route),
        )
        // Device management
        .ruma_route(device::get_devices_route)
        .ruma_route(keys::upload_keys_route)
        .ruma_route(keys::get_keys_route)
        .ruma_route(keys::claim_keys_route)
        .ruma_route(keys::get_key_changes_route)
        .ruma_route(keys::upload_signing_keys_route)
        .ruma_route(keys::upload_signatures_route)
        // Send-to-device messaging
        .ruma_route(to_device::send_event_to_device_route)
        // Server-side key backups
        .ruma_route(key_backup::create_version_route)
        .ruma_route(key_backup::get_latest_version_route)
        .ruma_route(key_backup::get_version_route)
        .ruma_route(key_backup::update_version_route)
        .ruma_route(key_backup::delete_version_route)
        .ruma_route(key_backup::add_keys_route)
        .ruma_route(key_backup::add_room_keys_route)
        .ruma_route(key_backup::add_session_key_route)
        .ruma_route(key_backup::get_keys_route)
        .ruma_route(key_backup::get_room_keys_route)
        .ruma_route(key_backup::get_session_key_route)
        .ruma_route(key_backup::delete_keys_route)
        .ruma_route(key_backup::delete_room_keys_route)
        .ruma_route(key_backup::delete_session_key_route)
        // Dehydrated devices (MSC3814)
        .ruma_route(dehydrated_device::put_device_route)
        .ruma_route(dehydrated_device::get_device_route)
        .ruma_route(dehydrated_device::delete_device_route)
        .ruma_route(dehydrated_device::get_events_route)
        .ruma_route(device::get_device_route)
        .ruma_route(device::update_device_route)
        .ruma_route(device::delete_device_route)
        .ruma_route(device::delete_devices_route)
        // Profiles
        .ruma_route(profile::get_profile_route)
        .ruma_route(profile::get_display_name_route)
        .ruma_route(profile::set_display_name_route)
        .ruma_route(profile::get_avatar_url_route)
        .ruma_route(profile::set_avatar_url_route)
        // Client config (account data), tags, filters
        .ruma_route(account_data::get_global_account_data_route)
        .ruma_route(account_data::set_global_account_data_route)
        .ruma_route(account_data::get_room_account_data_route)
        .ruma_route(account_data::set_room_account_data_route)
        .ruma_route(account_data_delete::delete_global_route)
        .ruma_route(account_data_delete::delete_room_route)
        .ruma_route(tag::get_tags_route)
        .ruma_route(tag::create_tag_route)
        .ruma_route(tag::delete_tag_route)
        .ruma_route(filter::create_filter_route)
        .ruma_route(filter::get_filter_route)
        // Push rules
        .ruma_route(push::get_pushrules_all_route)
        .ruma_route(push::get_pushrules_global_scope_route)
        .ruma_route(push::get_pushrule_route)
        .ruma_route(push::set_pushrule_route)
        .ruma_route(push::delete_pushrule_route)
        .ruma_route(push::get_pushrule_enabled_route)
        .ruma_route(push::set_pushrule_enabled_route)
        .ruma_route(push::get_pushrule_actions_route)
        .ruma_route(push::set_pushrule_actions_route)
        // Rooms: creation, events, state
        .ruma_route(room::create_room_route)
        .ruma_route(room_upgrade::upgrade_room_route)
        .ruma_route(pushers::get_pushers_route)
        .ruma_route(pushers::set_pusher_route)
        .ruma_route(pushers::get_notifications_route)
        .ruma_route(report::report_event_route)
        .ruma_route(report::report_room_route)
        .ruma_route(report::report_user_route)
        .route_with::<ruma::api::client::message::send_message_event::v3::Request, _, _, _>(
            message::send_message_event_route,
            delayed_events::render,
        )
        .ruma_route(delayed_events::get_delayed_events_route)
        .ruma_route(delayed_events::update_delayed_event_route)
        .ruma_route(message::get_message_events_route)
        .ruma_route(relations::get_relating_events_route)
        .ruma_route(relations::get_relating_events_with_rel_type_route)
        .ruma_route(relations::get_relating_events_with_rel_type_and_event_type_route)
        .ruma_route(relations::get_threads_route)
        .ruma_route(thread_subscriptions::get_thread_subscription_route)
        .ruma_route(thread_subscriptions::subscribe_thread_route)
        .ruma_route(thread_subscriptions::unsubscribe_thread_route)
        .ruma_route(thread_subscriptions::get_thread_subscriptions_changes_route)
        .ruma_route(user_directory::search_users_route)
        .ruma_route(space::get_hierarchy_route)
        .ruma_route(jump_to_date::timestamp_to_event_route)
        .route_with::<ruma::api::client::state::send_state_event::v3::Request, _, _, _>(
            state::send_state_event_route,
            delayed_events::render,
        )
        .ruma_route(state::get_state_events_route)
        .ruma_route(state::get_state_event_for_key_route)
        .ruma_route(event::get_room_event_route)
        .ruma_route(event::get_context_route)
        .ruma_route(event::redact_event_route)
        // Membership
        .ruma_route(membership::join_room_by_id_route)
        .ruma_route(membership::join_room_by_id_or_alias_route)
        .ruma_route(membership::knock_room_route)
        .ruma_route(membership::invite_user_route)
        .ruma_route(membership::leave_room_route)
        .ruma_route(membership::forget_room_route)
        .ruma_route(membership::kick_user_route)
        .ruma_route(membership::ban_user_route)
        .ruma_route(membership::unban_user_route)
        .ruma_route(membership::joined_rooms_route)
        .ruma_route(membership::get_member_events_route)
        .route_with::<ruma::api::client::membership::joined_members::v3::Request, _, _, _>(
            membership::joined_members_route,
            membership::render_joined_members,
        )
        // Aliases and the room directory
        .ruma_route(directory::create_alias_route)
        .ruma_route(directory::get_alias_route)
        .ruma_route(directory::delete_alias_route)
        .ruma_route(directory::aliases_route)
        .ruma_route(directory::get_room_visibility_route)
        .ruma_route(directory::set_room_visibility_route)
        .ruma_route(directory::get_public_rooms_route)
        .ruma_route(directory::get_public_rooms_filtered_route)
        // Presence
        .ruma_route(presence::set_presence_route)
        .ruma_route(presence::get_presence_route)
        // Typing
        .ruma_route(typing::create_typing_event_route)
        // Receipts and read markers
        .ruma_route(receipt::create_receipt_route)
        .ruma_route(receipt::set_read_marker_route)
        // Sync
        .route_with::<ruma::api::client::search::search_events::v3::Request, _, _, _>(
            search::search_events_route,
            search::render,
        )
        .route_with::<ruma::api::client::sync::sync_events::v3::Request, _, _, _>(
            sync::sync_events_route,
            sync_body::render,
        )
        .ruma_route(sliding_sync::sliding_sync_route)
}
