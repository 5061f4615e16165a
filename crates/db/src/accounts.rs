//! User accounts and profiles.

use accord_storage::WriteBatch;
use ruma::UserId;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{
    Db, Result,
    database::encode,
    tables::{USERID_ACCOUNT, USERID_PROFILE},
};

/// One local account. The password is stored only as an argon2id PHC string.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserAccount {
    /// argon2id hash; `None` for accounts that cannot log in with a password.
    pub password_hash: Option<String>,
    /// Server administrator.
    #[serde(default)]
    pub admin: bool,
    /// Deactivated accounts keep their id reserved forever and can't log in.
    #[serde(default)]
    pub deactivated: bool,
    /// Creation time, ms since the epoch.
    pub created_ts: u64,
    /// Locked by an admin (spec v1.12): every request but logout gets 401 `M_USER_LOCKED`
    /// until unlocked; the tokens stay valid, so the sessions resume.
    #[serde(default)]
    pub locked: bool,
    /// Suspended by an admin (spec v1.13): the user can read and leave but not join, invite,
    /// send or change the profile (403 `M_USER_SUSPENDED`).
    #[serde(default)]
    pub suspended: bool,
    /// Shadow-banned by an admin: the user's sends and invites answer success but go nowhere
    /// (Synapse's shadow ban, for spammers who would otherwise just register again).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shadow_banned: bool,
    /// Deactivated with erasure (GDPR): the profile and message content are gone.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub erased: bool,
    /// Synapse's user type: `bot`, `support`, or nothing for a person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_type: Option<String>,
    /// An admin's rate limit override (Synapse's `override_ratelimit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratelimit_override: Option<RateLimitOverride>,
}

/// An admin's override of a user's rate limits, in Synapse's shape: a zero rate exempts the
/// user from every per-user limit; otherwise the two replace the message limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimitOverride {
    /// Messages a second; 0 lifts every per-user limit, as on Synapse.
    pub messages_per_second: u64,
    /// Messages at once.
    pub burst_count: u64,
}

impl RateLimitOverride {
    /// Whether the override lifts every per-user limit.
    pub fn exempts(&self) -> bool {
        self.messages_per_second == 0
    }
}

impl Db {
    /// The account of `user_id`, if it was ever registered (also when deactivated).
    pub fn get_account(&self, user_id: &UserId) -> Result<Option<UserAccount>> {
        self.get_json(USERID_ACCOUNT, user_id.as_bytes())
    }

    /// Queues creating or replacing an account.
    pub fn put_account(&self, batch: &mut WriteBatch, user_id: &UserId, account: &UserAccount) {
        batch.put(USERID_ACCOUNT, user_id.as_bytes(), encode(account));
    }

    /// Number of accounts ever registered (deactivated ones included).
    pub fn count_accounts(&self) -> Result<usize> {
        Ok(self.scan_keys(USERID_ACCOUNT, b"")?.len())
    }

    /// Every account's user id (deactivated ones included), in byte order.
    pub fn account_user_ids(&self) -> Result<Vec<ruma::OwnedUserId>> {
        Ok(self
            .scan_keys(USERID_ACCOUNT, b"")?
            .into_iter()
            .filter_map(|key| ruma::OwnedUserId::try_from(String::from_utf8(key).ok()?).ok())
            .collect())
    }

    /// The profile fields of `user_id` (empty when none were set).
    pub fn profile(&self, user_id: &UserId) -> Result<Map<String, Value>> {
        Ok(self.get_json(USERID_PROFILE, user_id.as_bytes())?.unwrap_or_default())
    }

    /// Queues replacing all profile fields of `user_id`.
    pub fn put_profile(&self, batch: &mut WriteBatch, user_id: &UserId, profile: &Map<String, Value>) {
        if profile.is_empty() {
            batch.delete(USERID_PROFILE, user_id.as_bytes());
        } else {
            batch.put(USERID_PROFILE, user_id.as_bytes(), encode(profile));
        }
    }
}
