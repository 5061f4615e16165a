//! A user's sessions for admins: whois (devices with their last address and time), devices
//! made and deleted, and logging in as the user for support.

use accord_core::time::now_millis;
use accord_db::{AccessSession, AuditEvent, WriteBatch};
use ruma::{DeviceId, OwnedDeviceId, UserId};

use super::Admin;
use crate::{
    Error, Result,
    audit::kinds,
    tokens::{hash_token, random_upper},
};

/// One device's latest connection, as `whois` lists it.
#[derive(Debug, Clone)]
pub struct WhoisSession {
    /// The device.
    pub device_id: OwnedDeviceId,
    /// Its last address.
    pub ip: Option<String>,
    /// Its last activity, ms.
    pub last_seen: Option<u64>,
}

impl Admin {
    /// Every device of `user_id` with its latest connection.
    pub fn whois(&self, user_id: &UserId) -> Result<Vec<WhoisSession>> {
        self.account(user_id)?;
        let mut sessions = Vec::new();
        for (device_id, device) in self.db.devices(user_id)? {
            let seen = self.db.get_last_seen(user_id, &device_id)?;
            sessions.push(WhoisSession {
                ip: seen.as_ref().and_then(|seen| seen.ip.clone()).or(device.last_seen_ip),
                last_seen: seen.map(|seen| seen.ts).or(device.last_seen_ts),
                device_id,
            });
        }
        Ok(sessions)
    }

    /// Makes a device for `user_id` without tokens (Synapse's admin device creation, used by
    /// bridges that log in later with it); an existing device is left as it is.
    pub fn create_device(&self, admin: &UserId, user_id: &UserId, device_id: &DeviceId) -> Result<()> {
        self.account(user_id)?;
        if self.db.get_device(user_id, device_id)?.is_some() {
            return Ok(());
        }
        let mut batch = WriteBatch::new();
        self.db.put_device(
            &mut batch,
            user_id,
            device_id,
            &accord_db::DeviceRecord::new(now_millis()),
        );
        let event = AuditEvent::new(kinds::DEVICE_CREATED)
            .actor(admin)
            .target(user_id)
            .detail("device_id", device_id.as_str());
        Ok(self.db.write_audited(batch, event)?)
    }

    /// An access token to act as `user_id`, for support staff, on a device of its own named
    /// after the admin, so the user sees it in their device list and can sign it out. Expires
    /// at `valid_until_ms` when given. Synapse's token has no device; a visible one is the
    /// honest choice for a server that answers to data-protection officers.
    pub fn login_as(&self, admin: &UserId, user_id: &UserId, valid_until_ms: Option<u64>) -> Result<String> {
        if admin == user_id {
            return Err(Error::invalid_param("Cannot use the admin API to log in as yourself"));
        }
        let account = self.account(user_id)?;
        if account.deactivated {
            return Err(Error::invalid_param(format!("{user_id} is deactivated")));
        }
        if valid_until_ms.is_some_and(|until| until <= now_millis()) {
            return Err(Error::invalid_param("valid_until_ms is in the past"));
        }
        let device_id = OwnedDeviceId::from(format!("ADMIN{}", random_upper(8)));
        let mut batch = WriteBatch::new();
        let tokens = self.sessions.issue_for_device(
            &mut batch,
            user_id,
            &device_id,
            Some(format!("Admin login by {admin}")),
            false,
        )?;
        if let Some(until) = valid_until_ms {
            let session = AccessSession {
                user_id: user_id.to_owned(),
                device_id: device_id.clone(),
                expires_at: Some(until),
                retires_refresh_token_hash: None,
            };
            self.db
                .put_access_session(&mut batch, &hash_token(&tokens.access_token), &session);
        }
        let mut event = AuditEvent::new(kinds::ADMIN_LOGIN_AS)
            .actor(admin)
            .target(user_id)
            .detail("device_id", device_id.as_str());
        if let Some(until) = valid_until_ms {
            event = event.detail("valid_until_ms", until);
        }
        self.db.write_audited(batch, event)?;
        tracing::warn!(admin = %admin, user = %user_id, device = %device_id, "an admin logged in as a user");
        Ok(tokens.access_token)
    }
}
