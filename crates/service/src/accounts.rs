//! Accounts: username rules, registration, password changes, deactivation, and the admin's
//! account creation from the command line.

use std::{net::IpAddr, sync::Arc};

use accord_core::{Config, config::RegistrationMode, time::now_millis};
use accord_db::{AuditEvent, Db, UserAccount, WriteBatch};
use ruma::{
    DeviceId, OwnedDeviceId, OwnedUserId, ServerName, UserId,
    api::{
        client::uiaa::{AuthFlow, AuthType, UserIdentifier},
        error::ErrorKind,
    },
};

use crate::{
    Error, Result,
    audit::{Audit, LoginRecord, kinds},
    ldap::DirectoryUser,
    password_check::{PasswordCheck, Proof},
    passwords,
    rate_limits::{RateClass, RateLimits},
    sessions::{IssuedTokens, Sessions, device_change},
    tokens::random_alphanumeric,
};

/// The spec's limit on the length of a user id, in bytes.
const MAX_USER_ID_LEN: usize = 255;

/// What a new registration asks for.
#[derive(Debug, Clone, Default)]
pub struct NewAccount {
    /// Desired localpart; a random one is chosen when absent.
    pub username: Option<String>,
    /// Password; `None` creates an account that can't log in with a password.
    pub password: Option<String>,
    /// Device id for the first login.
    pub device_id: Option<OwnedDeviceId>,
    /// Display name of that device.
    pub initial_device_display_name: Option<String>,
    /// Create the account without logging in.
    pub inhibit_login: bool,
    /// Issue a refresh token with the access token.
    pub refresh_token: bool,
    /// Make the account a server administrator.
    pub admin: bool,
    /// Display name for the profile (shared-secret registration sets one).
    pub displayname: Option<String>,
}

/// The result of creating an account.
#[derive(Debug, Clone)]
pub struct Registered {
    /// The new user id.
    pub user_id: OwnedUserId,
    /// The first device and its tokens, unless login was inhibited.
    pub login: Option<(OwnedDeviceId, IssuedTokens)>,
}

/// Account management.
#[derive(Clone, Debug)]
pub struct Accounts {
    config: Arc<Config>,
    db: Db,
    sessions: Sessions,
    rate_limits: RateLimits,
    passwords: PasswordCheck,
    audit: Audit,
    create_lock: Arc<tokio::sync::Mutex<()>>,
}

impl Accounts {
    pub(crate) fn new(
        config: Arc<Config>,
        db: Db,
        sessions: Sessions,
        rate_limits: RateLimits,
        passwords: PasswordCheck,
    ) -> Self {
        Self {
            audit: Audit::new(db.clone()),
            config,
            db,
            sessions,
            rate_limits,
            passwords,
            create_lock: Arc::default(),
        }
    }

    pub(crate) fn db(&self) -> &Db {
        &self.db
    }

    pub(crate) fn server_name(&self) -> &ServerName {
        &self.config.server_name
    }

    /// The UIA flows `/register` offers under the configured registration mode.
    pub fn registration_flows(&self) -> Result<Vec<AuthFlow>> {
        match self.config.registration.mode {
            // The first-admin token (see `first_admin.rs`) opens the token flow for one account.
            RegistrationMode::Closed if self.db.first_admin_token()?.is_some() => {
                Ok(vec![AuthFlow::new(vec![AuthType::RegistrationToken, AuthType::Dummy])])
            }
            RegistrationMode::Closed => Err(Error::forbidden(
                "Registration is disabled on this server; ask an administrator to create an account",
            )),
            RegistrationMode::Open => Ok(vec![AuthFlow::new(vec![AuthType::Dummy])]),
            // Synapse prepends the token stage to its dummy flow; clients (Element) expect
            // exactly this shape and complete the dummy stage on their own.
            RegistrationMode::Token => Ok(vec![AuthFlow::new(vec![AuthType::RegistrationToken, AuthType::Dummy])]),
        }
    }

    /// Checks a new password against `[password_policy]` (400 `M_WEAK_PASSWORD`).
    pub fn check_password_policy(&self, password: &str) -> Result<()> {
        crate::password_policy::check(&self.config.password_policy, password)
    }

    /// Checks a desired localpart: valid (else `M_INVALID_USERNAME`) and free (else `M_USER_IN_USE`).
    pub fn check_username_available(&self, localpart: &str) -> Result<OwnedUserId> {
        let user_id = validate_new_localpart(localpart, &self.config.server_name)?;
        if self.db.get_account(&user_id)?.is_some() {
            return Err(Error::new(
                ErrorKind::UserInUse,
                format!("User ID {user_id} is already taken"),
            ));
        }
        Ok(user_id)
    }

    /// Creates an account (and, unless inhibited, its first device) in one batch.
    pub async fn create(&self, new: NewAccount, uiaa: Option<crate::uiaa::UiaaCompleted>) -> Result<Registered> {
        if let Some(name) = &new.username {
            self.check_username_available(name)?;
        }
        let password_hash = match new.password {
            Some(password) => Some(passwords::hash(password).await?),
            None => None,
        };
        // Serialize check-and-create so two concurrent registrations of one name can't both win.
        let _guard = self.create_lock.lock().await;
        let user_id = match &new.username {
            Some(name) => self.check_username_available(name)?,
            None => self.random_free_user_id()?,
        };
        let mut batch = WriteBatch::new();
        let account = UserAccount {
            password_hash,
            admin: new.admin,
            deactivated: false,
            created_ts: now_millis(),
            ..UserAccount::default()
        };
        self.db.put_account(&mut batch, &user_id, &account);
        let displayname = new.displayname.unwrap_or_else(|| user_id.localpart().to_owned());
        let mut profile = serde_json::Map::new();
        profile.insert("displayname".to_owned(), serde_json::Value::String(displayname));
        self.db.put_profile(&mut batch, &user_id, &profile);
        let login = if new.inhibit_login {
            None
        } else {
            let device_id = self.sessions.device_id_for_login(new.device_id);
            let tokens = self.sessions.issue_for_device(
                &mut batch,
                &user_id,
                &device_id,
                new.initial_device_display_name,
                new.refresh_token,
            )?;
            Some((device_id, tokens))
        };
        if let Some(uiaa) = uiaa {
            uiaa.finish(&self.db, &mut batch);
        }
        let mut event = AuditEvent::new(kinds::ACCOUNT_CREATED)
            .target(&user_id)
            .detail("admin", new.admin);
        if let Some((device_id, _)) = &login {
            event = event.detail("device_id", device_id.as_str());
        }
        self.db.write_audited(batch, event)?;
        tracing::info!(user = %user_id, "account created");
        Ok(Registered { user_id, login })
    }

    fn random_free_user_id(&self) -> Result<OwnedUserId> {
        for _ in 0..10 {
            let localpart = random_alphanumeric(12).to_lowercase();
            if let Ok(user_id) = self.check_username_available(&localpart) {
                return Ok(user_id);
            }
        }
        Err(Error::Internal("could not find a free random user id".to_owned()))
    }

    /// Logs in with a password, creating or re-keying the device.
    pub async fn login_with_password(
        &self,
        identifier: &UserIdentifier,
        password: &str,
        ip: Option<IpAddr>,
        device_id: Option<OwnedDeviceId>,
        initial_device_display_name: Option<String>,
        refresh_token: bool,
    ) -> Result<(OwnedUserId, OwnedDeviceId, IssuedTokens)> {
        let user_id = self.check_password_login(identifier, password, ip).await?;
        let login = LoginRecord::new("m.login.password", ip);
        let (device_id, tokens) =
            self.issue_login(&user_id, device_id, initial_device_display_name, refresh_token, login)?;
        Ok((user_id, device_id, tokens))
    }

    /// Who `identifier` and `password` prove to be, with every check of a password login
    /// (failed-attempt and per-account limits, directory or local password, deactivated and
    /// locked accounts) but no device made: for `/login` and Accord's own login page. A wrong
    /// password is recorded in the audit log with the address it came from.
    pub async fn check_password_login(
        &self,
        identifier: &UserIdentifier,
        password: &str,
        ip: Option<IpAddr>,
    ) -> Result<OwnedUserId> {
        let invalid = || Error::forbidden("Invalid username or password");
        let user_id = user_id_from_identifier(identifier, &self.config.server_name).ok_or_else(invalid)?;
        // Past the failed attempts allowed, even the right password waits (Synapse does the
        // same): guessing gets no faster by mixing in a known-good attempt.
        self.rate_limits
            .peek(RateClass::LoginFailedAttempts, user_id.as_str())?;
        let account = match self.passwords.prove(&user_id, password).await? {
            Proof::Local => self.db.get_account(&user_id)?,
            Proof::Directory(user) => Some(self.account_from_directory(&user_id, &user).await?),
            Proof::Failed => None,
        };
        let Some(account) = account else {
            self.rate_limits
                .record(RateClass::LoginFailedAttempts, user_id.as_str());
            self.audit
                .record(AuditEvent::new(kinds::LOGIN_FAILED).actor(&user_id).ip(ip));
            return Err(invalid());
        };
        self.rate_limits.check_key(RateClass::LoginAccount, user_id.as_str())?;
        check_may_log_in(&account)?;
        Ok(user_id)
    }

    /// The account of a user the directory vouched for: made at their first login (see
    /// [`Self::provision`]), and its admin flag kept in step with `ldap.admin_filter` at every
    /// login.
    async fn account_from_directory(&self, user_id: &UserId, user: &DirectoryUser) -> Result<UserAccount> {
        let mut account = self
            .provision(user_id, user.admin, user.displayname.clone(), |_, _| {})
            .await?;
        let admin_from_directory = self.config.ldap.admin_filter.is_some();
        if admin_from_directory && account.admin != user.admin && !account.deactivated {
            account.admin = user.admin;
            let mut batch = WriteBatch::new();
            self.db.put_account(&mut batch, user_id, &account);
            self.db.write(batch)?;
            tracing::info!(user = %user_id, admin = user.admin, "admin flag follows the directory");
        }
        Ok(account)
    }

    /// The account `user_id`, made now if it doesn't exist: no local password (someone else,
    /// the directory or an identity provider, vouches for the user), `displayname` or the
    /// localpart, and whatever `also` queues in the same batch (a provider link).
    pub(crate) async fn provision(
        &self,
        user_id: &UserId,
        admin: bool,
        displayname: Option<String>,
        also: impl FnOnce(&Db, &mut WriteBatch),
    ) -> Result<UserAccount> {
        let _guard = self.create_lock.lock().await;
        let mut batch = WriteBatch::new();
        let account = match self.db.get_account(user_id)? {
            Some(account) => account,
            None => {
                validate_new_localpart(user_id.localpart(), &self.config.server_name)?;
                let account = UserAccount {
                    password_hash: None,
                    admin,
                    created_ts: now_millis(),
                    ..UserAccount::default()
                };
                self.db.put_account(&mut batch, user_id, &account);
                let displayname = displayname.unwrap_or_else(|| user_id.localpart().to_owned());
                let mut profile = serde_json::Map::new();
                profile.insert("displayname".to_owned(), serde_json::Value::String(displayname));
                self.db.put_profile(&mut batch, user_id, &profile);
                tracing::info!(user = %user_id, admin, "account created for a user vouched for elsewhere");
                account
            }
        };
        also(&self.db, &mut batch);
        self.db.write(batch)?;
        Ok(account)
    }

    /// A device (new or re-keyed) with fresh tokens for a user who proved who they are.
    pub(crate) fn issue_login(
        &self,
        user_id: &UserId,
        device_id: Option<OwnedDeviceId>,
        initial_device_display_name: Option<String>,
        refresh_token: bool,
        login: LoginRecord,
    ) -> Result<(OwnedDeviceId, IssuedTokens)> {
        let device_id = self.sessions.device_id_for_login(device_id);
        let mut batch = WriteBatch::new();
        let tokens = self.sessions.issue_for_device(
            &mut batch,
            user_id,
            &device_id,
            initial_device_display_name,
            refresh_token,
        )?;
        let event = AuditEvent::new(kinds::LOGIN)
            .actor(user_id)
            .ip(login.ip)
            .detail("device_id", device_id.as_str())
            .detail("method", login.method);
        self.db.write_audited(batch, event)?;
        Ok((device_id, tokens))
    }

    /// Logs in a user whose identity another check proved (a login token): counted against
    /// `rate_limits.login_account` like a password login.
    pub fn login_verified(
        &self,
        user_id: &UserId,
        device_id: Option<OwnedDeviceId>,
        initial_device_display_name: Option<String>,
        refresh_token: bool,
    ) -> Result<(OwnedDeviceId, IssuedTokens)> {
        self.rate_limits.check_key(RateClass::LoginAccount, user_id.as_str())?;
        let login = LoginRecord::new("m.login.token", None);
        self.issue_login(user_id, device_id, initial_device_display_name, refresh_token, login)
    }

    /// Logs in `user_id` for the application service that vouches for it
    /// (`m.login.application_service`): no password, but the account must exist and be active.
    pub fn login_for_appservice(
        &self,
        user_id: &UserId,
        device_id: Option<OwnedDeviceId>,
        initial_device_display_name: Option<String>,
        refresh_token: bool,
    ) -> Result<(OwnedDeviceId, IssuedTokens)> {
        let Some(account) = self.db.get_account(user_id)? else {
            return Err(Error::forbidden(format!(
                "{user_id} is not registered; register it first with m.login.application_service"
            )));
        };
        check_may_log_in(&account)?;
        let login = LoginRecord::new("m.login.application_service", None);
        self.issue_login(user_id, device_id, initial_device_display_name, refresh_token, login)
    }

    /// Sets a new password (after UIA); with `logout_devices`, every other device is logged out.
    pub async fn change_password(
        &self,
        user_id: &UserId,
        keep_device: &DeviceId,
        new_password: String,
        logout_devices: bool,
        uiaa: crate::uiaa::UiaaCompleted,
    ) -> Result<()> {
        let mut account = self.account(user_id)?;
        if self.passwords.directory_enabled() && account.password_hash.is_none() {
            return Err(Error::forbidden(
                "Your password is kept by your organization's directory; change it there",
            ));
        }
        account.password_hash = Some(passwords::hash(new_password).await?);
        let mut batch = WriteBatch::new();
        self.db.put_account(&mut batch, user_id, &account);
        let deleted = if logout_devices {
            self.sessions
                .delete_all_devices_except(&mut batch, user_id, Some(keep_device))?
        } else {
            Vec::new()
        };
        uiaa.finish(&self.db, &mut batch);
        let event = AuditEvent::new(kinds::PASSWORD_CHANGED)
            .actor(user_id)
            .target(user_id)
            .detail("devices_logged_out", deleted.len());
        self.db.write_audited(batch, event)?;
        if !deleted.is_empty() {
            self.db.record_local_device_change(&device_change(user_id, deleted))?;
        }
        Ok(())
    }

    /// Deactivates an account (after UIA): no password, no devices, no profile; the id stays taken.
    pub fn deactivate(&self, user_id: &UserId, uiaa: Option<crate::uiaa::UiaaCompleted>) -> Result<()> {
        let mut account = self.account(user_id)?;
        account.deactivated = true;
        account.password_hash = None;
        let mut batch = WriteBatch::new();
        self.db.put_account(&mut batch, user_id, &account);
        let deleted = self.sessions.delete_all_devices_except(&mut batch, user_id, None)?;
        self.db.put_profile(&mut batch, user_id, &serde_json::Map::new());
        if let Some(uiaa) = uiaa {
            uiaa.finish(&self.db, &mut batch);
        }
        let event = AuditEvent::new(kinds::ACCOUNT_DEACTIVATED)
            .actor(user_id)
            .target(user_id);
        self.db.write_audited(batch, event)?;
        self.db.record_local_device_change(&device_change(user_id, deleted))?;
        tracing::info!(user = %user_id, "account deactivated");
        Ok(())
    }

    fn account(&self, user_id: &UserId) -> Result<UserAccount> {
        self.db
            .get_account(user_id)?
            .ok_or_else(|| Error::not_found(format!("No account {user_id}")))
    }

    /// Whether `user_id` is a server administrator.
    pub fn is_admin(&self, user_id: &UserId) -> Result<bool> {
        Ok(self.db.get_account(user_id)?.is_some_and(|a| a.admin && !a.deactivated))
    }
}

/// A proven user still can't log in to a deactivated (403) or locked (401) account.
pub(crate) fn check_may_log_in(account: &UserAccount) -> Result<()> {
    if account.deactivated {
        return Err(Error::new(
            ErrorKind::UserDeactivated,
            "This account has been deactivated",
        ));
    }
    if account.locked {
        return Err(crate::account_state::locked());
    }
    Ok(())
}

/// Validates a localpart for a new account on `server_name`.
///
/// The spec's historical grammar allows more, but new ids must use `a-z 0-9 . _ = - / +` and
/// the whole id must fit in 255 bytes. Like Synapse, purely numeric localparts are refused
/// (they are reserved for guests), which clients rely on when they suggest names.
pub fn validate_new_localpart(localpart: &str, server_name: &ServerName) -> Result<OwnedUserId> {
    let invalid = |why: &str| {
        Error::new(
            ErrorKind::InvalidUsername,
            format!("Invalid username {localpart:?}: {why}"),
        )
    };
    if localpart.is_empty() {
        return Err(invalid("it is empty"));
    }
    if !localpart
        .bytes()
        .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'=' | b'-' | b'/' | b'+'))
    {
        return Err(invalid("use only lowercase letters, digits and . _ = - / +"));
    }
    if localpart.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid("purely numeric user ids are reserved"));
    }
    let user_id = UserId::parse(format!("@{localpart}:{server_name}")).map_err(|err| invalid(&err.to_string()))?;
    if user_id.as_str().len() > MAX_USER_ID_LEN {
        return Err(invalid("the full user id must be at most 255 bytes"));
    }
    Ok(user_id)
}

/// The local user an `m.id.user` identifier names (a localpart or a full id), if it is local.
///
/// Localparts are lowercased first, as Synapse does, because users type them with capitals.
pub fn user_id_from_identifier(identifier: &UserIdentifier, server_name: &ServerName) -> Option<OwnedUserId> {
    let UserIdentifier::Matrix(matrix) = identifier else {
        return None;
    };
    let text = matrix.user.as_str();
    let user_id = if let Some(rest) = text.strip_prefix('@') {
        // A local user id in any case names the lower-case account (user ids are lower case;
        // Synapse looks them up ignoring case, and clients send them as the user typed them).
        match rest.split_once(':') {
            Some((localpart, server)) if server == server_name.as_str() => {
                UserId::parse(format!("@{}:{server}", localpart.to_lowercase())).ok()?
            }
            _ => UserId::parse(text).ok()?,
        }
    } else {
        UserId::parse(format!("@{}:{server_name}", text.to_lowercase())).ok()?
    };
    (user_id.server_name() == server_name).then_some(user_id)
}

#[cfg(test)]
mod tests {
    use ruma::server_name;

    use super::*;

    #[test]
    fn localpart_rules() {
        let server = server_name!("example.org");
        assert!(validate_new_localpart("alice.b-c_d=e/f+g", server).is_ok());
        for bad in ["", "Alice", "al ice", "alice:x", "12345", "ä"] {
            let err = validate_new_localpart(bad, server).err();
            assert!(
                matches!(err.as_ref().and_then(Error::kind), Some(ErrorKind::InvalidUsername)),
                "{bad}: {err:?}"
            );
        }
        let long = "a".repeat(255);
        assert!(validate_new_localpart(&long, server).is_err());
    }
}
