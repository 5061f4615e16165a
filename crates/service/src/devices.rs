//! Devices of the authenticated user: list, inspect, rename, delete.

pub use accord_db::DeviceRecord;
use accord_db::{Db, WriteBatch};
use ruma::{DeviceId, OwnedDeviceId, UserId};

use crate::{Error, Result, sessions::Sessions, uiaa::UiaaCompleted};

/// Device management.
#[derive(Clone, Debug)]
pub struct Devices {
    db: Db,
    sessions: Sessions,
}

impl Devices {
    pub(crate) fn new(db: Db, sessions: Sessions) -> Self {
        Self { db, sessions }
    }

    /// All devices of `user_id`.
    pub fn list(&self, user_id: &UserId) -> Result<Vec<(OwnedDeviceId, DeviceRecord)>> {
        Ok(self.db.devices(user_id)?)
    }

    /// One device; `M_NOT_FOUND` when the user has no such device.
    pub fn get(&self, user_id: &UserId, device_id: &DeviceId) -> Result<DeviceRecord> {
        self.db
            .get_device(user_id, device_id)?
            .ok_or_else(|| Error::not_found(format!("No device {device_id}")))
    }

    /// Renames a device; `M_NOT_FOUND` when it does not exist.
    pub fn rename(&self, user_id: &UserId, device_id: &DeviceId, display_name: Option<String>) -> Result<()> {
        let mut device = self.get(user_id, device_id)?;
        device.display_name = display_name;
        let mut batch = WriteBatch::new();
        self.db.put_device(&mut batch, user_id, device_id, &device);
        Ok(self.db.write(batch)?)
    }

    /// Deletes devices (after UIA) and their tokens in one batch; unknown ids are ignored, as
    /// the spec's bulk delete asks.
    pub fn delete(&self, user_id: &UserId, device_ids: &[OwnedDeviceId], uiaa: UiaaCompleted) -> Result<()> {
        let mut batch = WriteBatch::new();
        for device_id in device_ids {
            self.sessions.delete_device(&mut batch, user_id, device_id)?;
        }
        uiaa.finish(&self.db, &mut batch);
        Ok(self.db.write(batch)?)
    }
}
