//! Rate limits (`[rate_limits]`): one leaky bucket per class and key, Synapse's classes and
//! defaults. A refused action gets 429 `M_LIMIT_EXCEEDED` with `retry_after_ms` (and the
//! `Retry-After` header the spec asks for) and changes nothing.
//!
//! Exempt from every per-user class: an application service registered with
//! `rate_limited: false` (and its sender, always), and users an admin gave a zero override.
//! Checks keyed by client address (login, registration) have no user to exempt.

mod bucket;
mod federation;

use std::{net::IpAddr, sync::Arc, time::Duration};

use accord_core::{Config, config::BucketConfig};
use accord_db::{Db, RateLimitOverride};
use ruma::{
    UserId,
    api::error::{ErrorKind, LimitExceededErrorData, RetryAfter},
};

pub use federation::{FederationLimiter, FederationPermit};

use crate::{AuthedUser, Error, Result};
use bucket::Buckets;

/// What is being limited; each has its own buckets and `[rate_limits]` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateClass {
    /// Events a user sends.
    Message,
    /// A moderator's redaction of another user's event (`message` when not configured).
    AdminRedaction,
    /// Accounts created, per address.
    Registration,
    /// Registration token checks, per address.
    RegistrationTokenValidity,
    /// Login attempts, per address.
    LoginAddress,
    /// Successful logins, per account.
    LoginAccount,
    /// Failed logins and password confirmations, per account.
    LoginFailedAttempts,
    /// Joins, per user.
    JoinsLocal,
    /// Joins over federation, per user.
    JoinsRemote,
    /// Joins of one room, per room.
    JoinsPerRoom,
    /// Invites into a room, per room.
    InvitesPerRoom,
    /// Invites received, per invitee.
    InvitesPerUser,
    /// Invites sent, per inviter.
    InvitesPerIssuer,
    /// Rooms created, per user.
    RoomCreation,
    /// Uploads and reserved media ids, per user.
    MediaCreate,
    /// Presence changes, per user.
    Presence,
    /// Delayed event management, per user or address.
    DelayedEventMgmt,
    /// Reports, per user.
    Reports,
    /// Room key requests to other users' devices, per device.
    KeyRequests,
    /// User directory searches, per user.
    UserDirectory,
}

const CLASSES: usize = 20;

impl RateClass {
    fn index(self) -> usize {
        self as usize
    }

    /// The `[rate_limits]` key, named in the 429's message so an admin knows what to raise.
    pub fn key(self) -> &'static str {
        match self {
            Self::Message => "message",
            Self::AdminRedaction => "admin_redaction",
            Self::Registration => "registration",
            Self::RegistrationTokenValidity => "registration_token_validity",
            Self::LoginAddress => "login_address",
            Self::LoginAccount => "login_account",
            Self::LoginFailedAttempts => "login_failed_attempts",
            Self::JoinsLocal => "joins_local",
            Self::JoinsRemote => "joins_remote",
            Self::JoinsPerRoom => "joins_per_room",
            Self::InvitesPerRoom => "invites_per_room",
            Self::InvitesPerUser => "invites_per_user",
            Self::InvitesPerIssuer => "invites_per_issuer",
            Self::RoomCreation => "room_creation",
            Self::MediaCreate => "media_create",
            Self::Presence => "presence",
            Self::DelayedEventMgmt => "delayed_event_mgmt",
            Self::Reports => "reports",
            Self::KeyRequests => "key_requests",
            Self::UserDirectory => "user_directory",
        }
    }

    fn limit(self, config: &Config) -> BucketConfig {
        let limits = &config.rate_limits;
        match self {
            Self::Message => limits.message,
            Self::AdminRedaction => limits.admin_redaction.unwrap_or(limits.message),
            Self::Registration => limits.registration,
            Self::RegistrationTokenValidity => limits.registration_token_validity,
            Self::LoginAddress => limits.login_address,
            Self::LoginAccount => limits.login_account,
            Self::LoginFailedAttempts => limits.login_failed_attempts,
            Self::JoinsLocal => limits.joins_local,
            Self::JoinsRemote => limits.joins_remote,
            Self::JoinsPerRoom => limits.joins_per_room,
            Self::InvitesPerRoom => limits.invites_per_room,
            Self::InvitesPerUser => limits.invites_per_user,
            Self::InvitesPerIssuer => limits.invites_per_issuer,
            Self::RoomCreation => limits.room_creation,
            Self::MediaCreate => limits.media_create,
            Self::Presence => limits.presence,
            Self::DelayedEventMgmt => limits.delayed_event_mgmt,
            Self::Reports => limits.reports,
            Self::KeyRequests => limits.key_requests,
            Self::UserDirectory => limits.user_directory,
        }
    }
}

/// The limiter every handler asks before acting.
#[derive(Clone, Debug)]
pub struct RateLimits {
    config: Arc<Config>,
    db: Db,
    buckets: Arc<[Buckets; CLASSES]>,
    /// Requests of other servers (`rate_limits.federation`).
    pub federation: FederationLimiter,
}

impl RateLimits {
    pub(crate) fn new(config: Arc<Config>, db: Db) -> Self {
        let federation = FederationLimiter::new(config.rate_limits.federation);
        Self {
            config,
            db,
            buckets: Arc::new(std::array::from_fn(|_| Buckets::default())),
            federation,
        }
    }

    /// One action of `class` by `user`, keyed by the user.
    pub fn check_user(&self, class: RateClass, user: &AuthedUser) -> Result<()> {
        self.check_for(class, user, user.user_id.as_str(), 1)
    }

    /// `n` actions of `class` by `user`, counted against `key` (a room, an invitee): the
    /// caller's exemptions apply.
    pub fn check_for(&self, class: RateClass, user: &AuthedUser, key: &str, n: u32) -> Result<()> {
        if !user.rate_limited() {
            return Ok(());
        }
        // Without its own setting, moderators' redactions share the message bucket (Synapse).
        let class = match class {
            RateClass::AdminRedaction if self.config.rate_limits.admin_redaction.is_none() => RateClass::Message,
            other => other,
        };
        let mut limit = class.limit(&self.config);
        match self.override_of(&user.user_id)? {
            Some(custom) if custom.exempts() => return Ok(()),
            Some(custom) if class == RateClass::Message => {
                limit = BucketConfig {
                    per_second: custom.messages_per_second as f64,
                    burst_count: u32::try_from(custom.burst_count.max(1)).unwrap_or(u32::MAX),
                };
            }
            _ => {}
        }
        self.take(class, limit, key, n, true)
    }

    /// One action of `class` by an unauthenticated caller at `address`.
    pub fn check_address(&self, class: RateClass, address: Option<IpAddr>) -> Result<()> {
        self.check_key(class, &address_key(address))
    }

    /// Whether an action of `class` keyed by `key` would be allowed, counting nothing (the
    /// action's outcome decides whether it counts, see [`Self::record`]).
    pub fn peek(&self, class: RateClass, key: &str) -> Result<()> {
        self.take(class, class.limit(&self.config), key, 1, false)
    }

    /// One action of `class` keyed by `key`, no user exemptions.
    pub fn check_key(&self, class: RateClass, key: &str) -> Result<()> {
        self.take(class, class.limit(&self.config), key, 1, true)
    }

    /// Counts one action of `class` for `key` that happened (a failed login).
    pub fn record(&self, class: RateClass, key: &str) {
        if let Some(buckets) = self.buckets.get(class.index()) {
            buckets.record(key, class.limit(&self.config), 1);
        }
    }

    /// The admin's override for `user_id`, if any (stored on the account).
    fn override_of(&self, user_id: &UserId) -> Result<Option<RateLimitOverride>> {
        if user_id.server_name() != self.config.server_name {
            return Ok(None);
        }
        Ok(self
            .db
            .get_account(user_id)?
            .and_then(|account| account.ratelimit_override))
    }

    fn take(&self, class: RateClass, limit: BucketConfig, key: &str, n: u32, update: bool) -> Result<()> {
        let Some(buckets) = self.buckets.get(class.index()) else {
            return Ok(());
        };
        buckets
            .take(key, limit, n, update)
            .map_err(|wait| limit_exceeded(class, limit, wait))
    }
}

/// The key of an address-keyed class (one bucket for requests whose address is unknown).
pub fn address_key(address: Option<IpAddr>) -> String {
    address.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
}

/// 429 `M_LIMIT_EXCEEDED`, with the wait and the setting that decided it.
pub(crate) fn limit_exceeded(class: RateClass, limit: BucketConfig, wait: Duration) -> Error {
    let mut data = LimitExceededErrorData::new();
    data.retry_after = Some(RetryAfter::Delay(wait));
    Error::new(
        ErrorKind::LimitExceeded(data),
        format!(
            "Too many requests: rate_limits.{} allows {} at once, then {} a second; retry in {} ms",
            class.key(),
            limit.burst_count,
            limit.per_second,
            wait.as_millis().max(1)
        ),
    )
}
