//! Devices of the authenticated user: list, inspect, rename, delete.

pub use accord_db::DeviceRecord;
use accord_db::{Db, WriteBatch};
use std::{collections::HashMap, sync::Arc};

use accord_core::time::now_millis;
use accord_db::LastSeen;
use parking_lot::Mutex;
use ruma::{DeviceId, OwnedDeviceId, OwnedUserId, UserId};

use crate::{
    Error, Result,
    sessions::{Sessions, device_change},
    uiaa::UiaaCompleted,
};

/// How often a busy device's activity is written.
const ACTIVITY_WRITE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(300);
/// Devices whose last write time is remembered.
const MAX_TRACKED_DEVICES: usize = 100_000;

/// When each device's activity was last written, and from which address.
type RecentActivity = HashMap<(OwnedUserId, OwnedDeviceId), (std::time::Instant, Option<String>)>;

/// Device management.
#[derive(Clone, Debug)]
pub struct Devices {
    db: Db,
    sessions: Sessions,
    recent: Arc<Mutex<RecentActivity>>,
}

impl Devices {
    pub(crate) fn new(db: Db, sessions: Sessions) -> Self {
        Self {
            db,
            sessions,
            recent: Arc::default(),
        }
    }

    /// All devices of `user_id`, with their last activity.
    pub fn list(&self, user_id: &UserId) -> Result<Vec<(OwnedDeviceId, DeviceRecord)>> {
        self.db
            .devices(user_id)?
            .into_iter()
            .map(|(device_id, record)| {
                let record = self.with_last_seen(user_id, &device_id, record)?;
                Ok((device_id, record))
            })
            .collect()
    }

    fn with_last_seen(&self, user_id: &UserId, device_id: &DeviceId, mut record: DeviceRecord) -> Result<DeviceRecord> {
        if let Some(seen) = self.db.get_last_seen(user_id, device_id)? {
            record.last_seen_ts = Some(seen.ts);
            record.last_seen_ip = seen.ip;
        }
        Ok(record)
    }

    /// Notes that a device made an authenticated request. Written at most every few minutes
    /// per device (or when the address changes), so activity costs almost nothing per request.
    pub fn touch(&self, user_id: &UserId, device_id: &DeviceId, ip: Option<std::net::IpAddr>) -> Result<()> {
        let ip = ip.map(|ip| ip.to_string());
        let key = (user_id.to_owned(), device_id.to_owned());
        {
            let recent = self.recent.lock();
            if let Some((at, last_ip)) = recent.get(&key)
                && at.elapsed() < ACTIVITY_WRITE_INTERVAL
                && *last_ip == ip
            {
                return Ok(());
            }
        }
        self.db.put_last_seen(
            user_id,
            device_id,
            &LastSeen {
                ip: ip.clone(),
                ts: now_millis(),
            },
        )?;
        let mut recent = self.recent.lock();
        if recent.len() >= MAX_TRACKED_DEVICES {
            recent.clear();
        }
        recent.insert(key, (std::time::Instant::now(), ip));
        Ok(())
    }

    /// One device with its last activity; `M_NOT_FOUND` when the user has no such device.
    pub fn get(&self, user_id: &UserId, device_id: &DeviceId) -> Result<DeviceRecord> {
        let record = self
            .db
            .get_device(user_id, device_id)?
            .ok_or_else(|| Error::not_found(format!("No device {device_id}")))?;
        self.with_last_seen(user_id, device_id, record)
    }

    /// Renames a device; `M_NOT_FOUND` when it does not exist.
    pub fn rename(&self, user_id: &UserId, device_id: &DeviceId, display_name: Option<String>) -> Result<()> {
        let mut device = self.get(user_id, device_id)?;
        device.display_name = display_name;
        let mut batch = WriteBatch::new();
        self.db.put_device(&mut batch, user_id, device_id, &device);
        self.db.write(batch)?;
        // Other servers show device names too (`m.device_list_update`).
        self.db
            .record_local_device_change(&device_change(user_id, vec![device_id.to_owned()]))?;
        Ok(())
    }

    /// Deletes devices (after UIA) and their tokens in one batch; unknown ids are ignored, as
    /// the spec's bulk delete asks.
    pub fn delete(&self, user_id: &UserId, device_ids: &[OwnedDeviceId], uiaa: UiaaCompleted) -> Result<()> {
        self.delete_with(user_id, user_id, device_ids, "delete_devices", |db, batch| {
            uiaa.finish(db, batch);
        })?;
        Ok(())
    }

    /// Signs one device out after its owner confirmed it on the account management page
    /// (logged in there with their password or identity provider within the hour). Whether
    /// the device existed.
    pub fn sign_out(&self, user_id: &UserId, device_id: &OwnedDeviceId) -> Result<bool> {
        let deleted = self.delete_with(
            user_id,
            user_id,
            std::slice::from_ref(device_id),
            "account_page",
            |_, _| {},
        )?;
        Ok(!deleted.is_empty())
    }

    /// Deletes devices of `user_id` for an admin (no UIA; the admin API checked the caller).
    /// The ids deleted; unknown ones are skipped.
    pub fn delete_by_admin(
        &self,
        admin: &UserId,
        user_id: &UserId,
        device_ids: &[OwnedDeviceId],
    ) -> Result<Vec<OwnedDeviceId>> {
        self.delete_with(admin, user_id, device_ids, "admin", |_, _| {})
    }

    fn delete_with(
        &self,
        actor: &UserId,
        user_id: &UserId,
        device_ids: &[OwnedDeviceId],
        how: &str,
        also: impl FnOnce(&Db, &mut WriteBatch),
    ) -> Result<Vec<OwnedDeviceId>> {
        let mut batch = WriteBatch::new();
        let mut deleted = Vec::new();
        for device_id in device_ids {
            if self.sessions.delete_device(&mut batch, user_id, device_id)? {
                deleted.push(device_id.clone());
            }
        }
        also(&self.db, &mut batch);
        if deleted.is_empty() {
            self.db.write(batch)?;
        } else {
            let event = crate::sessions::devices_deleted(actor, user_id, &deleted, how);
            self.db.write_audited(batch, event)?;
        }
        if !deleted.is_empty() {
            self.db
                .record_local_device_change(&device_change(user_id, deleted.clone()))?;
        }
        Ok(deleted)
    }
}
