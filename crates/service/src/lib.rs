//! Accord's use cases: what a request means, independent of HTTP. Accounts and registration,
//! login sessions and tokens, devices, user-interactive authentication, profiles, account
//! data, filters and push rules.
//!
//! Invariants: no web framework here (handlers in `accord-api` translate HTTP to these calls);
//! the client-facing decision (errcode and message) is made here, in [`Error`]; each call
//! commits everything it changes in one atomic batch; no global state, everything hangs off
//! [`Services`].

pub mod account_data;
pub mod account_state;
pub mod accounts;
mod action_gates;
pub mod admin;
pub mod appservice;
pub mod audit;
mod backoff;
pub mod backup;
pub mod cross_signing;
pub mod data_export;
pub mod dehydrated_device;
pub mod delayed_events;
pub mod device_keys;
pub mod device_list_announcer;
pub mod devices;
mod edus;
pub mod erasure;
mod error;
pub mod filters;
mod first_admin;
pub mod identity;
mod ignored_users;
mod inbound;
pub mod integrity;
mod invite_permission;
mod jump_to_date;
pub mod key_backup;
mod key_signatures;
mod ldap;
pub mod media;
mod membership_events;
pub mod oauth;
pub mod openid;
mod password_check;
mod password_policy;
mod passwords;
pub mod presence;
pub mod profiles;
pub mod purge_history;
pub mod push;
pub mod push_rules;
pub mod rate_limits;
mod raw;
pub mod registration_tokens;
mod remote;
mod remote_devices;
mod remote_directory;
mod remote_hierarchy;
mod remote_history;
pub mod remote_keys;
mod remote_knock;
mod remote_membership;
mod remote_presence;
mod remote_receipts;
pub mod reports;
pub mod resident_membership;
pub mod retention;
pub mod room_deletion;
pub mod rooms;
pub mod search;
pub mod sender;
pub mod server_history;
mod server_keys;
pub mod server_notices;
pub mod sessions;
pub mod shared_secret;
pub mod sliding_sync;
pub mod sso;
mod sweep;
pub mod sync;
pub mod to_device;
mod tokens;
pub mod transactions;
pub mod uiaa;
mod upgrade_settings;
pub mod user_directory;

use std::sync::Arc;

use accord_core::Config;
use accord_db::Db;

pub use accord_db::{Direction, PendingAuthorization, RateLimitOverride};
pub(crate) use edus::edu_json;
pub use error::{Error, Result};
pub use sessions::AuthedUser;

/// Everything a request handler can call. Cheap to clone; passed as axum `State`.
#[derive(Clone, Debug)]
pub struct Services {
    /// The configuration this server started with.
    pub config: Arc<Config>,
    /// Accounts, registration, passwords, deactivation.
    pub accounts: accounts::Accounts,
    /// Access and refresh tokens, login and logout.
    pub sessions: sessions::Sessions,
    /// Device listing and management.
    pub devices: devices::Devices,
    /// User-interactive authentication sessions.
    pub uiaa: uiaa::Uiaa,
    /// Display names, avatars and other profile fields.
    pub profiles: profiles::Profiles,
    /// Global and per-room account data, including room tags.
    pub account_data: account_data::AccountData,
    /// Stored sync filters.
    pub filters: filters::Filters,
    /// Per-user push rules.
    pub push_rules: push_rules::PushRules,
    /// Synapse-compatible shared-secret registration.
    pub shared_secret: shared_secret::SharedSecretRegistration,
    /// Rooms: creation, membership, messages, state, aliases, directory, sync.
    pub rooms: rooms::RoomService,
    /// Server-server plumbing, when `federation.enabled`.
    pub federation: Option<accord_federation::Federation>,
    /// The content repository: uploads, downloads, thumbnails, remote media.
    pub media: media::Media,
    /// Message search and the index behind it.
    pub search: search::Search,
    /// Pushers, notifications and their delivery.
    pub push: push::Push,
    /// The scheduler of delayed events.
    pub delayed: delayed_events::DelayedEvents,
    /// Sliding sync connections (MSC4186), in memory.
    pub sliding: sliding_sync::SlidingSync,
    /// Application services: registrations, their transactions and queries.
    pub appservices: appservice::Appservices,
    /// Rate limits of every class (`[rate_limits]`).
    pub rate_limits: rate_limits::RateLimits,
    /// Registration tokens made through the admin API.
    pub registration_tokens: registration_tokens::RegistrationTokens,
    /// Login through OpenID Connect identity providers.
    pub sso: sso::Sso,
    /// The OAuth 2.0 API: Accord as the authorization server.
    pub oauth: oauth::OAuth,
    /// The hash-chained audit log of security events and admin actions.
    pub audit: audit::Audit,
    /// What server admins do to accounts (Synapse's admin API).
    pub admin: admin::Admin,
    /// History purges started by admins, and their status.
    pub purges: purge_history::PurgeTasks,
    /// Room deletions started through the admin API's v2, and their status.
    pub room_deletions: room_deletion::DeleteTasks,
    /// Held while one-time keys are claimed, so no key is handed out twice.
    key_claims: Arc<parking_lot::Mutex<()>>,
    /// Held while a key backup changes, so concurrent uploads keep `count` and `etag` right.
    backup_writes: Arc<parking_lot::Mutex<()>>,
}

impl Services {
    /// Builds every service over one database, loading (or creating) the signing key.
    pub fn new(config: Arc<Config>, db: Db) -> Result<Self> {
        let identity = identity::load_or_generate(&db, config.server_name.clone())?;
        let federation = if config.federation.enabled {
            Some(
                accord_federation::Federation::new(&config, identity.clone(), db.clone())
                    .map_err(|err| Error::Internal(format!("federation setup failed: {err}")))?,
            )
        } else {
            None
        };
        let rate_limits = rate_limits::RateLimits::new(config.clone(), db.clone());
        let media = media::Media::new(config.clone(), db.clone(), federation.clone(), rate_limits.clone())?;
        let room_writer = accord_room::Rooms::new(db.clone(), identity);
        let search = search::Search::open(&config, db.clone(), room_writer.clone())?;
        let rooms = rooms::RoomService::new(config.clone(), room_writer, rate_limits.clone());
        let sessions = sessions::Sessions::new(config.clone(), db.clone());
        let registration_tokens = registration_tokens::RegistrationTokens::new(config.clone(), db.clone());
        let password_check = password_check::PasswordCheck::new(db.clone(), &config.ldap)?;
        let uiaa = uiaa::Uiaa::new(
            config.clone(),
            db.clone(),
            rate_limits.clone(),
            registration_tokens.clone(),
            password_check.clone(),
        );
        let accounts = accounts::Accounts::new(
            config.clone(),
            db.clone(),
            sessions.clone(),
            rate_limits.clone(),
            password_check,
        );
        Ok(Self {
            push: push::Push::new(&config)?,
            delayed: delayed_events::DelayedEvents::default(),
            sliding: sliding_sync::SlidingSync::default(),
            appservices: appservice::Appservices::new(&config)?,
            rate_limits,
            registration_tokens,
            sso: sso::Sso::new(config.clone(), db.clone())?,
            oauth: oauth::OAuth::new(config.clone(), db.clone(), sessions.clone()),
            audit: audit::Audit::new(db.clone()),
            admin: admin::Admin::new(config.clone(), db.clone(), sessions.clone()),
            purges: purge_history::PurgeTasks::default(),
            room_deletions: room_deletion::DeleteTasks::default(),
            federation,
            media,
            search,
            rooms,
            devices: devices::Devices::new(db.clone(), sessions.clone()),
            profiles: profiles::Profiles::new(config.clone(), db.clone()),
            account_data: account_data::AccountData::new(db.clone()),
            filters: filters::Filters::new(db.clone()),
            push_rules: push_rules::PushRules::new(db.clone()),
            shared_secret: shared_secret::SharedSecretRegistration::new(config.clone(), accounts.clone()),
            accounts,
            sessions,
            uiaa,
            config,
            key_claims: Arc::default(),
            backup_writes: Arc::default(),
        })
    }

    /// The database, for shutdown and for tools.
    pub fn db(&self) -> &Db {
        self.accounts.db()
    }
}
