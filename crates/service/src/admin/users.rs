//! One account as admins see and change it: Synapse's user object, and its create-or-modify
//! (`PUT /_synapse/admin/v2/users/{userId}`), password reset, admin flag and shadow ban.

use accord_core::time::now_millis;
use accord_db::{AuditEvent, UserAccount, WriteBatch};
use ruma::UserId;
use serde::Serialize;
use serde_json::Value;

use super::Admin;
use crate::{Error, Result, account_state::state_changed, audit::kinds, passwords, sessions::device_change};

/// An account in the shape of Synapse's admin API.
#[derive(Debug, Clone, Serialize)]
pub struct AdminUser {
    /// The user id.
    pub name: String,
    /// Accord has no guest accounts.
    pub is_guest: bool,
    /// Server admin.
    pub admin: bool,
    /// `bot`, `support` or nothing.
    pub user_type: Option<String>,
    /// Deactivated.
    pub deactivated: bool,
    /// Deactivated with erasure.
    pub erased: bool,
    /// Shadow-banned.
    pub shadow_banned: bool,
    /// Locked (spec v1.12).
    pub locked: bool,
    /// Suspended (spec v1.13).
    pub suspended: bool,
    /// Profile display name.
    pub displayname: Option<String>,
    /// Profile avatar.
    pub avatar_url: Option<String>,
    /// Creation time, ms.
    pub creation_ts: u64,
    /// The latest activity of any device, ms.
    pub last_seen_ts: Option<u64>,
    /// Accord keeps no third-party ids: always empty, for tools that read the field.
    pub threepids: Vec<Value>,
    /// Accounts linked to identity providers are listed in the SSO tables; not shown here yet.
    pub external_ids: Vec<Value>,
}

/// What `PUT /_synapse/admin/v2/users/{userId}` may set; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    /// A new password.
    pub password: Option<String>,
    /// Log out every device when the password changes (default true).
    pub logout_devices: bool,
    /// Display name (`Some(None)` removes it).
    pub displayname: Option<Option<String>>,
    /// Avatar (`Some(None)` removes it).
    pub avatar_url: Option<Option<String>>,
    /// Admin flag.
    pub admin: Option<bool>,
    /// Deactivate (true) or reactivate (false).
    pub deactivated: Option<bool>,
    /// Lock or unlock.
    pub locked: Option<bool>,
    /// User type (`Some(None)` clears it).
    pub user_type: Option<Option<String>>,
}

/// The user types Synapse knows without configuration.
const USER_TYPES: &[&str] = &["bot", "support"];

impl Admin {
    /// One account as admins see it.
    pub fn user(&self, user_id: &UserId) -> Result<AdminUser> {
        let account = self.account(user_id)?;
        self.render_user(user_id, &account)
    }

    pub(super) fn render_user(&self, user_id: &UserId, account: &UserAccount) -> Result<AdminUser> {
        let profile = self.db.profile(user_id)?;
        let text = |field: &str| profile.get(field).and_then(Value::as_str).map(str::to_owned);
        Ok(AdminUser {
            name: user_id.to_string(),
            is_guest: false,
            admin: account.admin,
            user_type: account.user_type.clone(),
            deactivated: account.deactivated,
            erased: account.erased,
            shadow_banned: account.shadow_banned,
            locked: account.locked,
            suspended: account.suspended,
            displayname: text("displayname"),
            avatar_url: text("avatar_url"),
            creation_ts: account.created_ts,
            last_seen_ts: self.last_seen(user_id)?,
            threepids: Vec::new(),
            external_ids: Vec::new(),
        })
    }

    /// The latest activity of any of the user's devices.
    pub(super) fn last_seen(&self, user_id: &UserId) -> Result<Option<u64>> {
        let mut latest = None;
        for (device_id, device) in self.db.devices(user_id)? {
            let seen = self.db.get_last_seen(user_id, &device_id)?.map(|seen| seen.ts);
            latest = latest.max(seen.or(device.last_seen_ts));
        }
        Ok(latest)
    }

    /// Creates `user_id` or changes it; whether it was created, and the account after.
    pub async fn upsert_user(
        &self,
        admin: &UserId,
        user_id: &UserId,
        changes: UserChanges,
    ) -> Result<(bool, AdminUser)> {
        self.ensure_local(user_id)?;
        if let Some(Some(kind)) = &changes.user_type
            && !USER_TYPES.contains(&kind.as_str())
        {
            return Err(Error::invalid_param(format!(
                "Invalid user type {kind:?}: use bot or support"
            )));
        }
        if changes.deactivated == Some(true) && changes.locked == Some(true) {
            return Err(Error::invalid_param(
                "An account can't be deactivated and locked at once",
            ));
        }
        if admin == user_id && changes.admin == Some(false) {
            return Err(Error::invalid_param("You may not demote yourself"));
        }
        let password_hash = match &changes.password {
            Some(password) => {
                if password.len() > 512 {
                    return Err(Error::invalid_param("Invalid password: longer than 512 bytes"));
                }
                Some(passwords::hash(password.clone()).await?)
            }
            None => None,
        };
        let existing = self.db.get_account(user_id)?;
        let created = existing.is_none();
        let mut account = match existing {
            Some(account) => account,
            None => {
                crate::accounts::validate_new_localpart(user_id.localpart(), self.server_name())?;
                UserAccount {
                    created_ts: now_millis(),
                    ..UserAccount::default()
                }
            }
        };
        let mut batch = WriteBatch::new();
        let mut changed = Vec::new();
        let mut logged_out = Vec::new();
        if let Some(hash) = password_hash {
            account.password_hash = Some(hash);
            changed.push("password");
            if changes.logout_devices && !created {
                logged_out = self.sessions.delete_all_devices_except(&mut batch, user_id, None)?;
            }
        }
        if let Some(on) = changes.admin {
            account.admin = on;
            changed.push("admin");
        }
        if let Some(on) = changes.locked {
            account.locked = on;
            changed.push("locked");
        }
        if let Some(kind) = changes.user_type {
            account.user_type = kind;
            changed.push("user_type");
        }
        match changes.deactivated {
            Some(true) if !account.deactivated => {
                account.deactivated = true;
                account.password_hash = None;
                logged_out.extend(self.sessions.delete_all_devices_except(&mut batch, user_id, None)?);
                changed.push("deactivated");
            }
            Some(false) if account.deactivated => {
                account.deactivated = false;
                account.erased = false;
                changed.push("reactivated");
            }
            _ => {}
        }
        let mut profile = self.db.profile(user_id)?;
        if created {
            profile.insert("displayname".to_owned(), Value::String(user_id.localpart().to_owned()));
        }
        for (field, value) in [
            ("displayname", &changes.displayname),
            ("avatar_url", &changes.avatar_url),
        ] {
            match value {
                Some(Some(text)) if !text.is_empty() => {
                    profile.insert(field.to_owned(), Value::String(text.clone()));
                    changed.push(field);
                }
                Some(_) => {
                    profile.remove(field);
                    changed.push(field);
                }
                None => {}
            }
        }
        self.db.put_profile(&mut batch, user_id, &profile);
        self.db.put_account(&mut batch, user_id, &account);
        let event = AuditEvent::new(if created {
            kinds::ACCOUNT_CREATED
        } else {
            kinds::ACCOUNT_STATE_CHANGED
        })
        .actor(admin)
        .target(user_id)
        .detail("changed", changed)
        .detail("devices_logged_out", logged_out.len());
        self.db.write_audited(batch, event)?;
        if !logged_out.is_empty() {
            self.db
                .record_local_device_change(&device_change(user_id, logged_out))?;
        }
        tracing::info!(admin = %admin, user = %user_id, created, "account changed by an admin");
        Ok((created, self.render_user(user_id, &account)?))
    }

    /// Sets a new password for `user_id`; with `logout_devices`, every device is logged out.
    pub async fn reset_password(
        &self,
        admin: &UserId,
        user_id: &UserId,
        new_password: String,
        logout_devices: bool,
    ) -> Result<()> {
        let mut account = self.account(user_id)?;
        if new_password.len() > 512 {
            return Err(Error::invalid_param("Invalid password: longer than 512 bytes"));
        }
        account.password_hash = Some(passwords::hash(new_password).await?);
        let mut batch = WriteBatch::new();
        let logged_out = if logout_devices {
            self.sessions.delete_all_devices_except(&mut batch, user_id, None)?
        } else {
            Vec::new()
        };
        self.db.put_account(&mut batch, user_id, &account);
        let event = AuditEvent::new(kinds::PASSWORD_CHANGED)
            .actor(admin)
            .target(user_id)
            .detail("devices_logged_out", logged_out.len());
        self.db.write_audited(batch, event)?;
        if !logged_out.is_empty() {
            self.db
                .record_local_device_change(&device_change(user_id, logged_out))?;
        }
        Ok(())
    }

    /// Sets the admin flag; an admin can't demote themself (someone must stay admin).
    pub fn set_admin(&self, admin: &UserId, user_id: &UserId, on: bool) -> Result<()> {
        let mut account = self.account(user_id)?;
        if admin == user_id && !on {
            return Err(Error::invalid_param("You may not demote yourself"));
        }
        account.admin = on;
        self.put_with_state_change(admin, user_id, &account, "admin", on)
    }

    /// Shadow-bans `user_id` or lifts it.
    pub fn set_shadow_ban(&self, admin: &UserId, user_id: &UserId, on: bool) -> Result<()> {
        let mut account = self.account(user_id)?;
        account.shadow_banned = on;
        self.put_with_state_change(admin, user_id, &account, "shadow_banned", on)
    }

    fn put_with_state_change(
        &self,
        admin: &UserId,
        user_id: &UserId,
        account: &UserAccount,
        change: &str,
        on: bool,
    ) -> Result<()> {
        let mut batch = WriteBatch::new();
        self.db.put_account(&mut batch, user_id, account);
        self.db
            .write_audited(batch, state_changed(admin, user_id, change, on))?;
        tracing::info!(admin = %admin, user = %user_id, change, on, "account changed by an admin");
        Ok(())
    }

    /// Deactivates `user_id` for an admin: no password, no devices, no profile (erasure of
    /// their data is `Services::erase_user`).
    pub fn deactivate(&self, admin: &UserId, user_id: &UserId) -> Result<()> {
        let mut account = self.account(user_id)?;
        account.deactivated = true;
        account.password_hash = None;
        let mut batch = WriteBatch::new();
        let logged_out = self.sessions.delete_all_devices_except(&mut batch, user_id, None)?;
        self.db.put_account(&mut batch, user_id, &account);
        self.db.put_profile(&mut batch, user_id, &serde_json::Map::new());
        let event = AuditEvent::new(kinds::ACCOUNT_DEACTIVATED)
            .actor(admin)
            .target(user_id)
            .detail("erase", false);
        self.db.write_audited(batch, event)?;
        self.db
            .record_local_device_change(&device_change(user_id, logged_out))?;
        tracing::info!(admin = %admin, user = %user_id, "account deactivated by an admin");
        Ok(())
    }
}
