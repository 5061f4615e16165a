//! Locked and suspended accounts: an admin's two reversible measures short of deactivation.
//!
//! A locked account (spec v1.12, "Account locking") can do nothing but log out: every other
//! request gets 401 `M_USER_LOCKED` with `soft_logout`, and its tokens stay valid so the
//! sessions resume once unlocked. A suspended account (spec v1.13, "Account suspension") keeps
//! reading, leaving rooms, redacting its own events and managing its devices and keys, but may
//! not send, join, knock, invite or change its profile: 403 `M_USER_SUSPENDED`.

use accord_db::{Db, WriteBatch};
use ruma::{UserId, api::error::ErrorKind};

use crate::{AuthedUser, Error, Result, accounts::Accounts};

/// 403 `M_USER_SUSPENDED`, saying what is still possible.
pub(crate) fn suspended() -> Error {
    Error::new(
        ErrorKind::UserSuspended,
        "Your account is suspended: you can read and leave rooms but not send, join, invite or change your profile. Contact the server's administrators.",
    )
}

/// 401 `M_USER_LOCKED` (the renderer adds `soft_logout: true`).
pub fn locked() -> Error {
    Error::new(
        ErrorKind::UserLocked,
        "Your account is locked; only logging out is possible until an administrator unlocks it",
    )
}

/// Refuses what a suspended account may not do.
pub(crate) fn ensure_not_suspended(db: &Db, user_id: &UserId) -> Result<()> {
    if db.get_account(user_id)?.is_some_and(|account| account.suspended) {
        return Err(suspended());
    }
    Ok(())
}

/// A measure an admin takes on an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    /// Lock (spec: `/_matrix/client/v1/admin/lock/{userId}`).
    Lock,
    /// Suspend (spec: `/_matrix/client/v1/admin/suspend/{userId}`).
    Suspend,
}

impl Accounts {
    /// Whether `target` is locked or suspended. The caller must be an admin; as the spec asks,
    /// that is checked before the account is looked up, so non-admins learn nothing.
    pub fn measure(&self, admin: &AuthedUser, target: &UserId, measure: Measure) -> Result<bool> {
        let account = self.measurable_account(admin, target, false)?;
        Ok(match measure {
            Measure::Lock => account.locked,
            Measure::Suspend => account.suspended,
        })
    }

    /// Locks or suspends `target` (or lifts it). Refused (403) for the admin's own account and
    /// other admins', as the spec says; 404 for unknown or deactivated accounts.
    pub fn set_measure(&self, admin: &AuthedUser, target: &UserId, measure: Measure, on: bool) -> Result<bool> {
        let mut account = self.measurable_account(admin, target, true)?;
        match measure {
            Measure::Lock => account.locked = on,
            Measure::Suspend => account.suspended = on,
        }
        let mut batch = WriteBatch::new();
        self.db().put_account(&mut batch, target, &account);
        let change = match measure {
            Measure::Lock => "locked",
            Measure::Suspend => "suspended",
        };
        self.db()
            .write_audited(batch, state_changed(&admin.user_id, target, change, on))?;
        tracing::info!(admin = %admin.user_id, user = %target, ?measure, on, "account measure changed");
        Ok(on)
    }

    fn measurable_account(
        &self,
        admin: &AuthedUser,
        target: &UserId,
        changing: bool,
    ) -> Result<accord_db::UserAccount> {
        if !self.is_admin(&admin.user_id)? {
            return Err(Error::forbidden(
                "Only server administrators may lock or suspend accounts",
            ));
        }
        if target.server_name() != self.server_name() {
            return Err(Error::invalid_param(format!("{target} is not a user of this server")));
        }
        let account = self
            .db()
            .get_account(target)?
            .filter(|account| !account.deactivated)
            .ok_or_else(|| Error::not_found(format!("No active account {target}")))?;
        if changing && target == admin.user_id {
            return Err(Error::forbidden(
                "Administrators cannot lock or suspend their own account",
            ));
        }
        if changing && account.admin {
            return Err(Error::forbidden(
                "Administrators' accounts cannot be locked or suspended; remove the admin flag first",
            ));
        }
        Ok(account)
    }
}

impl Accounts {
    /// The admin's rate limit override of local `target` (Synapse's `override_ratelimit`):
    /// 400 for another server's user, 404 for an unknown one.
    pub fn ratelimit_override(&self, target: &UserId) -> Result<Option<accord_db::RateLimitOverride>> {
        Ok(self.overridable_account(target)?.ratelimit_override)
    }

    /// Sets or (with `None`) removes the override of `target`.
    pub fn set_ratelimit_override(
        &self,
        admin: &AuthedUser,
        target: &UserId,
        custom: Option<accord_db::RateLimitOverride>,
    ) -> Result<()> {
        let mut account = self.overridable_account(target)?;
        account.ratelimit_override = custom;
        let mut batch = WriteBatch::new();
        self.db().put_account(&mut batch, target, &account);
        let value = custom.map_or(serde_json::Value::Null, |custom| {
            serde_json::json!({ "messages_per_second": custom.messages_per_second, "burst_count": custom.burst_count })
        });
        self.db().write_audited(
            batch,
            state_changed(&admin.user_id, target, "ratelimit_override", value),
        )?;
        tracing::info!(admin = %admin.user_id, user = %target, ?custom, "rate limit override changed");
        Ok(())
    }

    fn overridable_account(&self, target: &UserId) -> Result<accord_db::UserAccount> {
        if target.server_name() != self.server_name() {
            return Err(Error::invalid_param("Only local users can have rate limit overrides"));
        }
        self.db()
            .get_account(target)?
            .ok_or_else(|| Error::not_found(format!("No account {target}")))
    }
}

/// The audit record of an admin's change to an account's state.
pub(crate) fn state_changed(
    admin: &UserId,
    target: &UserId,
    change: &str,
    value: impl Into<serde_json::Value>,
) -> accord_db::AuditEvent {
    accord_db::AuditEvent::new(crate::audit::kinds::ACCOUNT_STATE_CHANGED)
        .actor(admin)
        .target(target)
        .detail("change", change)
        .detail("value", value)
}
