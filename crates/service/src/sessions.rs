//! Login sessions: issuing, checking, refreshing and revoking access tokens.
//!
//! A device owns at most one access token and one refresh token; both are stored only as
//! sha256 hashes, in the device record and in a hash -> session table for lookup.

use std::{sync::Arc, time::Duration};

use accord_core::{Config, time::now_millis};
use accord_db::{AccessSession, AuditEvent, Db, DeviceRecord, RefreshSession, WriteBatch};
use ruma::{
    DeviceId, OwnedDeviceId, OwnedUserId, UserId,
    api::error::{ErrorKind, UnknownTokenErrorData},
};

use crate::{
    Error, Result,
    tokens::{generate_secret, hash_token, hex, random_upper, unhex},
};

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthedUser {
    /// Who.
    pub user_id: OwnedUserId,
    /// With which device (for an application service that named none, a stand-in, see
    /// [`crate::appservice::appservice_pseudo_device`]).
    pub device_id: OwnedDeviceId,
    /// The application service acting, when the request came with an `as_token`.
    pub appservice: Option<crate::appservice::AppserviceCaller>,
}

/// Tokens handed to a client at login, registration or refresh.
#[derive(Debug, Clone)]
pub struct IssuedTokens {
    /// The new access token.
    pub access_token: String,
    /// The new refresh token, when the client asked for refreshable tokens.
    pub refresh_token: Option<String>,
    /// Lifetime of the access token, when it expires.
    pub expires_in: Option<Duration>,
}

/// Issues and checks tokens.
#[derive(Clone, Debug)]
pub struct Sessions {
    config: Arc<Config>,
    db: Db,
}

fn unknown_token(soft_logout: bool, message: &str) -> Error {
    let mut data = UnknownTokenErrorData::new();
    data.soft_logout = soft_logout;
    Error::new(ErrorKind::UnknownToken(data), message)
}

/// Account data type prefix of a device's own notification settings (MSC3890), followed by
/// the device id.
const LOCAL_NOTIFICATION_SETTINGS: &str = "org.matrix.msc3890.local_notification_settings.";

impl AuthedUser {
    /// Whether the request comes from a real device: always, except for an application
    /// service acting without naming one (its stand-in device id is stored nowhere).
    pub fn has_device(&self) -> bool {
        self.appservice.as_ref().is_none_or(|service| service.device_given)
    }

    /// Whether rate limits apply to this request (an application service may be exempt).
    pub fn rate_limited(&self) -> bool {
        self.appservice.as_ref().is_none_or(|service| service.rate_limited)
    }
}

impl Sessions {
    pub(crate) fn new(config: Arc<Config>, db: Db) -> Self {
        Self { config, db }
    }

    /// Resolves an access token to its user and device.
    ///
    /// Unknown tokens get `M_UNKNOWN_TOKEN`; expired refreshable tokens get it with
    /// `soft_logout: true`, telling the client to refresh rather than log in again.
    pub fn authenticate(&self, access_token: &str) -> Result<AuthedUser> {
        let Some(session) = self.db.get_access_session(&hash_token(access_token))? else {
            return Err(unknown_token(false, "Unknown access token; log in again"));
        };
        if session.expires_at.is_some_and(|at| at <= now_millis()) {
            return Err(unknown_token(true, "Access token has expired; use your refresh token"));
        }
        if let Some(retiring) = &session.retires_refresh_token_hash {
            self.retire_refresh_token(access_token, &session, retiring)?;
        }
        Ok(AuthedUser {
            user_id: session.user_id,
            device_id: session.device_id,
            appservice: None,
        })
    }

    /// The first use of a refreshed access token: the refresh token it replaced stops working
    /// (its grace for a lost answer is over), once.
    fn retire_refresh_token(&self, access_token: &str, session: &AccessSession, retiring: &str) -> Result<()> {
        let mut batch = WriteBatch::new();
        if let Some(hash) = unhex(retiring) {
            self.db.delete_refresh_session(&mut batch, &hash);
        }
        let mut used = session.clone();
        used.retires_refresh_token_hash = None;
        self.db.put_access_session(&mut batch, &hash_token(access_token), &used);
        if let Some(mut device) = self.db.get_device(&session.user_id, &session.device_id)?
            && device.retiring_refresh_token_hash.as_deref() == Some(retiring)
        {
            device.retiring_refresh_token_hash = None;
            self.db
                .put_device(&mut batch, &session.user_id, &session.device_id, &device);
        }
        self.db.write(batch)?;
        Ok(())
    }

    /// Queues creating (or re-keying) `device_id` of `user_id` with fresh tokens, revoking the
    /// device's previous tokens. Returns the tokens to hand to the client.
    pub(crate) fn issue_for_device(
        &self,
        batch: &mut WriteBatch,
        user_id: &UserId,
        device_id: &DeviceId,
        display_name: Option<String>,
        refreshable: bool,
    ) -> Result<IssuedTokens> {
        let now = now_millis();
        let mut device = match self.db.get_device(user_id, device_id)? {
            Some(existing) => {
                self.revoke_device_tokens(batch, &existing);
                existing
            }
            None => DeviceRecord::new(now),
        };
        if display_name.is_some() {
            device.display_name = display_name;
        }
        device.last_seen_ts = Some(now);
        let tokens = self.new_tokens(batch, user_id, device_id, refreshable, now, None);
        device.access_token_hash = Some(hex(&hash_token(&tokens.access_token)));
        device.refresh_token_hash = tokens.refresh_token.as_deref().map(|t| hex(&hash_token(t)));
        self.db.put_device(batch, user_id, device_id, &device);
        Ok(tokens)
    }

    fn new_tokens(
        &self,
        batch: &mut WriteBatch,
        user_id: &UserId,
        device_id: &DeviceId,
        refreshable: bool,
        now: u64,
        retires_refresh_token_hash: Option<String>,
    ) -> IssuedTokens {
        let access_token = generate_secret();
        let lifetime = Duration::from_secs(self.config.login.refreshable_access_token_lifetime_secs);
        let expires_in = (refreshable && !lifetime.is_zero()).then_some(lifetime);
        let expires_at = expires_in.map(|d| now.saturating_add(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)));
        self.db.put_access_session(
            batch,
            &hash_token(&access_token),
            &AccessSession {
                user_id: user_id.to_owned(),
                device_id: device_id.to_owned(),
                expires_at,
                retires_refresh_token_hash,
            },
        );
        let refresh_token = refreshable.then(generate_secret);
        if let Some(refresh) = &refresh_token {
            self.db.put_refresh_session(
                batch,
                &hash_token(refresh),
                &RefreshSession {
                    user_id: user_id.to_owned(),
                    device_id: device_id.to_owned(),
                },
            );
        }
        IssuedTokens {
            access_token,
            refresh_token,
            expires_in,
        }
    }

    /// Queues removing the token sessions a device record points at.
    pub(crate) fn revoke_device_tokens(&self, batch: &mut WriteBatch, device: &DeviceRecord) {
        if let Some(hash) = device.access_token_hash.as_deref().and_then(unhex) {
            self.db.delete_access_session(batch, &hash);
        }
        if let Some(hash) = device.refresh_token_hash.as_deref().and_then(unhex) {
            self.db.delete_refresh_session(batch, &hash);
        }
        if let Some(hash) = device.retiring_refresh_token_hash.as_deref().and_then(unhex) {
            self.db.delete_refresh_session(batch, &hash);
        }
    }

    /// Queues deleting a device and its tokens. Returns whether it existed.
    pub(crate) fn delete_device(&self, batch: &mut WriteBatch, user_id: &UserId, device_id: &DeviceId) -> Result<bool> {
        let Some(device) = self.db.get_device(user_id, device_id)? else {
            return Ok(false);
        };
        self.revoke_device_tokens(batch, &device);
        self.db.delete_device(batch, user_id, device_id);
        self.db.delete_device_e2ee_keys(batch, user_id, device_id)?;
        self.db.delete_device_to_device(batch, user_id, device_id)?;
        // Pushers go with the device that set them (a password change logging out the other
        // devices drops their pushers; Complement's TestChangePasswordPushers).
        self.db.delete_device_pushers(batch, user_id, device_id)?;
        // The device's own notification settings go with it (MSC3890, as Synapse does).
        let settings = format!("{LOCAL_NOTIFICATION_SETTINGS}{device_id}");
        self.db.delete_account_data(batch, user_id, None, &settings);
        Ok(true)
    }

    /// A device id for a new login: the client's choice, or a fresh random one.
    pub(crate) fn device_id_for_login(&self, requested: Option<OwnedDeviceId>) -> OwnedDeviceId {
        requested.unwrap_or_else(|| OwnedDeviceId::from(random_upper(10)))
    }

    /// Exchanges a refresh token for new tokens, invalidating the old pair.
    pub fn refresh(&self, refresh_token: &str) -> Result<IssuedTokens> {
        let hash = hash_token(refresh_token);
        let Some(session) = self.db.get_refresh_session(&hash)? else {
            return Err(unknown_token(false, "Unknown refresh token; log in again"));
        };
        // A locked account gets no new token until unlocked (spec: soft logout while locked).
        self.ensure_not_locked(&session.user_id)?;
        let Some(mut device) = self.db.get_device(&session.user_id, &session.device_id)? else {
            return Err(unknown_token(false, "Unknown refresh token; log in again"));
        };
        let presented = hex(&hash);
        // The token the newest refresh replaced, used again: that refresh's answer was lost.
        // Its tokens are replaced again and it stays the retiring one.
        let retry = device.retiring_refresh_token_hash.as_deref() == Some(presented.as_str());
        let mut batch = WriteBatch::new();
        if let Some(old) = device.access_token_hash.as_deref().and_then(unhex) {
            self.db.delete_access_session(&mut batch, &old);
        }
        if retry {
            if let Some(current) = device.refresh_token_hash.as_deref().and_then(unhex) {
                self.db.delete_refresh_session(&mut batch, &current);
            }
        } else {
            // The current token: it retires, and an older retiring one (never needed) goes.
            if let Some(older) = device.retiring_refresh_token_hash.as_deref().and_then(unhex) {
                self.db.delete_refresh_session(&mut batch, &older);
            }
            device.retiring_refresh_token_hash = Some(presented.clone());
        }
        let now = now_millis();
        // The new access token carries the retiring token's hash, to delete it at first use.
        let retiring = device.retiring_refresh_token_hash.clone();
        let tokens = self.new_tokens(&mut batch, &session.user_id, &session.device_id, true, now, retiring);
        device.access_token_hash = Some(hex(&hash_token(&tokens.access_token)));
        device.refresh_token_hash = tokens.refresh_token.as_deref().map(|t| hex(&hash_token(t)));
        device.last_seen_ts = Some(now);
        self.db
            .put_device(&mut batch, &session.user_id, &session.device_id, &device);
        self.db.write(batch)?;
        Ok(tokens)
    }

    /// 401 `M_USER_LOCKED` for a locked account: every request but logging out (spec v1.12).
    pub fn ensure_not_locked(&self, user_id: &UserId) -> Result<()> {
        if self.db.get_account(user_id)?.is_some_and(|account| account.locked) {
            return Err(crate::account_state::locked());
        }
        Ok(())
    }

    /// Ends the session of an access or refresh token (OAuth revocation): its device and every
    /// token of it go, as at `/logout`. `None` when no session has the token.
    pub fn revoke(&self, token: &str) -> Result<Option<(OwnedUserId, ruma::OwnedDeviceId)>> {
        let hash = hash_token(token);
        let owner = match self.db.get_access_session(&hash)? {
            Some(session) => Some((session.user_id, session.device_id)),
            None => self
                .db
                .get_refresh_session(&hash)?
                .map(|session| (session.user_id, session.device_id)),
        };
        let Some((user_id, device_id)) = owner else {
            return Ok(None);
        };
        let mut batch = WriteBatch::new();
        self.delete_device(&mut batch, &user_id, &device_id)?;
        let event = devices_deleted(&user_id, &user_id, std::slice::from_ref(&device_id), "oauth_revocation");
        self.db.write_audited(batch, event)?;
        self.db
            .record_local_device_change(&device_change(&user_id, vec![device_id.clone()]))?;
        Ok(Some((user_id, device_id)))
    }

    /// `/logout`: deletes the caller's device and its tokens.
    pub fn logout(&self, user: &AuthedUser) -> Result<()> {
        let mut batch = WriteBatch::new();
        self.delete_device(&mut batch, &user.user_id, &user.device_id)?;
        let event = devices_deleted(
            &user.user_id,
            &user.user_id,
            std::slice::from_ref(&user.device_id),
            "logout",
        );
        self.db.write_audited(batch, event)?;
        self.db
            .record_local_device_change(&device_change(&user.user_id, vec![user.device_id.clone()]))?;
        Ok(())
    }

    /// `/logout/all`: deletes every device of the caller and their tokens.
    pub fn logout_all(&self, user_id: &UserId) -> Result<()> {
        let mut batch = WriteBatch::new();
        let deleted = self.delete_all_devices_except(&mut batch, user_id, None)?;
        let event = AuditEvent::new(crate::audit::kinds::LOGOUT_ALL)
            .actor(user_id)
            .target(user_id)
            .detail("devices", deleted.len());
        self.db.write_audited(batch, event)?;
        self.db.record_local_device_change(&device_change(user_id, deleted))?;
        Ok(())
    }

    /// Queues deleting every device of `user_id` except `keep`; returns the deleted ids.
    pub(crate) fn delete_all_devices_except(
        &self,
        batch: &mut WriteBatch,
        user_id: &UserId,
        keep: Option<&DeviceId>,
    ) -> Result<Vec<OwnedDeviceId>> {
        let mut deleted = Vec::new();
        for (device_id, device) in self.db.devices(user_id)? {
            if Some(device_id.as_ref()) != keep {
                self.revoke_device_tokens(batch, &device);
                self.db.delete_device(batch, user_id, &device_id);
                self.db.delete_device_e2ee_keys(batch, user_id, &device_id)?;
                self.db.delete_device_to_device(batch, user_id, &device_id)?;
                self.db.delete_device_pushers(batch, user_id, &device_id)?;
                deleted.push(device_id);
            }
        }
        Ok(deleted)
    }
}

/// A change of `devices` of local `user_id`, for the device list stream and outbox.
/// The audit record of devices deleted: by whom, whose, and how (`logout`, `delete_devices`,
/// `admin`, ...).
pub(crate) fn devices_deleted(actor: &UserId, owner: &UserId, devices: &[OwnedDeviceId], how: &str) -> AuditEvent {
    AuditEvent::new(crate::audit::kinds::DEVICES_DELETED)
        .actor(actor)
        .target(owner)
        .detail(
            "device_ids",
            devices.iter().map(|device| device.as_str()).collect::<Vec<_>>(),
        )
        .detail("how", how)
}

pub(crate) fn device_change(user_id: &UserId, devices: Vec<OwnedDeviceId>) -> accord_db::LocalDeviceChange {
    accord_db::LocalDeviceChange {
        user_id: user_id.to_owned(),
        devices,
        signing_keys: false,
    }
}
