//! `[rate_limits]`: how fast each kind of action may be repeated. The classes and their
//! defaults are Synapse's (`rc_*`), so an admin moving from Synapse finds the same numbers and
//! clients that cope with Synapse's limits cope with Accord's.

use serde::{Deserialize, Serialize};

/// One leaky bucket: `burst_count` actions at once, refilled at `per_second`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BucketConfig {
    /// Sustained rate, actions per second (may be fractional: 0.003 is about one in 5 minutes).
    pub per_second: f64,
    /// Actions allowed at once before the rate applies.
    pub burst_count: u32,
}

impl BucketConfig {
    const fn new(per_second: f64, burst_count: u32) -> Self {
        Self {
            per_second,
            burst_count,
        }
    }

    /// A bucket no test or benchmark reaches (a million a second).
    pub const UNLIMITED: Self = Self::new(1_000_000.0, 1_000_000);
}

/// `[rate_limits.federation]`: requests from one other server, as Synapse's `rc_federation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FederationLimitConfig {
    /// The window in which requests are counted, milliseconds.
    pub window_ms: u64,
    /// Requests in a window past which each further one waits `sleep_delay_ms` first.
    pub sleep_limit: u32,
    /// How long a request over `sleep_limit` waits, milliseconds.
    pub sleep_delay_ms: u64,
    /// Requests waiting (queued or sleeping) past which more are refused with 429.
    pub reject_limit: u32,
    /// Requests of one server handled at once; the rest queue in order.
    pub concurrent: u32,
}

/// `[rate_limits]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitsConfig {
    /// Events a user sends (messages, state, redactions, room upgrades), per user.
    pub message: BucketConfig,
    /// Redactions of other users' events by room moderators, per user; unset: `message`.
    pub admin_redaction: Option<BucketConfig>,
    /// Accounts created through `/register`, per client address.
    pub registration: BucketConfig,
    /// Registration token checks (`.../registration_token/validity`), per client address.
    pub registration_token_validity: BucketConfig,
    /// Login attempts, per client address.
    pub login_address: BucketConfig,
    /// Successful logins, per account.
    pub login_account: BucketConfig,
    /// Failed logins and failed password confirmations, per account; past it even the right
    /// password is refused until the bucket drains.
    pub login_failed_attempts: BucketConfig,
    /// Joins, per user.
    pub joins_local: BucketConfig,
    /// Joins of rooms on other servers, per user (also counted in `joins_local`).
    pub joins_remote: BucketConfig,
    /// Joins of one room by this server's users, per room.
    pub joins_per_room: BucketConfig,
    /// Invites into one room, per room.
    pub invites_per_room: BucketConfig,
    /// Invites one user receives, per invitee (invites from other servers too).
    pub invites_per_user: BucketConfig,
    /// Invites one user sends, per inviter.
    pub invites_per_issuer: BucketConfig,
    /// Rooms created, per user.
    pub room_creation: BucketConfig,
    /// Media uploads and reserved media ids (`/media/v1/create`), per user.
    pub media_create: BucketConfig,
    /// Presence changes (`PUT /presence/{userId}/status`), per user.
    pub presence: BucketConfig,
    /// Managing delayed events (MSC4140): per client address by delay id, else per user.
    pub delayed_event_mgmt: BucketConfig,
    /// Reports of events, rooms and users, per user.
    pub reports: BucketConfig,
    /// Room key requests sent to other users' devices, per sending device.
    pub key_requests: BucketConfig,
    /// User directory searches, per user.
    pub user_directory: BucketConfig,
    /// Requests from each other server.
    pub federation: FederationLimitConfig,
}

impl Default for RateLimitsConfig {
    /// Synapse's defaults, class by class.
    fn default() -> Self {
        let bucket = BucketConfig::new;
        Self {
            message: bucket(0.2, 10),
            admin_redaction: None,
            registration: bucket(0.17, 3),
            registration_token_validity: bucket(0.1, 5),
            login_address: bucket(0.003, 5),
            login_account: bucket(0.003, 5),
            login_failed_attempts: bucket(0.17, 3),
            joins_local: bucket(0.1, 10),
            joins_remote: bucket(0.01, 10),
            joins_per_room: bucket(1.0, 10),
            invites_per_room: bucket(0.3, 10),
            invites_per_user: bucket(0.003, 5),
            invites_per_issuer: bucket(0.3, 10),
            room_creation: bucket(0.016, 10),
            media_create: bucket(10.0, 50),
            presence: bucket(0.1, 1),
            delayed_event_mgmt: bucket(1.0, 5),
            reports: bucket(1.0, 5),
            key_requests: bucket(20.0, 100),
            user_directory: bucket(0.016, 200),
            federation: FederationLimitConfig {
                window_ms: 1000,
                sleep_limit: 10,
                sleep_delay_ms: 500,
                reject_limit: 50,
                concurrent: 3,
            },
        }
    }
}

impl RateLimitsConfig {
    /// Limits no test or benchmark reaches, for harnesses that measure something else.
    pub fn unlimited() -> Self {
        let open = BucketConfig::UNLIMITED;
        Self {
            message: open,
            admin_redaction: None,
            registration: open,
            registration_token_validity: open,
            login_address: open,
            login_account: open,
            login_failed_attempts: open,
            joins_local: open,
            joins_remote: open,
            joins_per_room: open,
            invites_per_room: open,
            invites_per_user: open,
            invites_per_issuer: open,
            room_creation: open,
            media_create: open,
            presence: open,
            delayed_event_mgmt: open,
            reports: open,
            key_requests: open,
            user_directory: open,
            federation: FederationLimitConfig {
                window_ms: 1000,
                sleep_limit: 1_000_000,
                sleep_delay_ms: 0,
                reject_limit: 1_000_000,
                concurrent: 1_000,
            },
        }
    }

    /// [`Self::unlimited`] as a `[rate_limits]` TOML table, for harnesses that start Accord
    /// from a config file.
    pub fn unlimited_toml() -> String {
        let limits = Self::unlimited();
        let mut toml = String::from("[rate_limits]\n");
        for (name, bucket) in limits.buckets() {
            toml.push_str(&format!(
                "{name} = {{ per_second = {:.1}, burst_count = {} }}\n",
                bucket.per_second, bucket.burst_count
            ));
        }
        let federation = limits.federation;
        toml.push_str(&format!(
            "federation = {{ window_ms = {}, sleep_limit = {}, sleep_delay_ms = {}, reject_limit = {}, concurrent = {} }}\n",
            federation.window_ms,
            federation.sleep_limit,
            federation.sleep_delay_ms,
            federation.reject_limit,
            federation.concurrent
        ));
        toml
    }

    /// Every bucket with its key, for validation.
    pub fn buckets(&self) -> Vec<(&'static str, BucketConfig)> {
        let mut all = vec![
            ("message", self.message),
            ("registration", self.registration),
            ("registration_token_validity", self.registration_token_validity),
            ("login_address", self.login_address),
            ("login_account", self.login_account),
            ("login_failed_attempts", self.login_failed_attempts),
            ("joins_local", self.joins_local),
            ("joins_remote", self.joins_remote),
            ("joins_per_room", self.joins_per_room),
            ("invites_per_room", self.invites_per_room),
            ("invites_per_user", self.invites_per_user),
            ("invites_per_issuer", self.invites_per_issuer),
            ("room_creation", self.room_creation),
            ("media_create", self.media_create),
            ("presence", self.presence),
            ("delayed_event_mgmt", self.delayed_event_mgmt),
            ("reports", self.reports),
            ("key_requests", self.key_requests),
            ("user_directory", self.user_directory),
        ];
        if let Some(bucket) = self.admin_redaction {
            all.push(("admin_redaction", bucket));
        }
        all
    }
}
