//! Devices: one per login, owning that login's access and refresh tokens.

use accord_storage::{
    WriteBatch,
    codec::{KeyBuilder, KeyReader},
};
use ruma::{DeviceId, OwnedDeviceId, UserId};
use serde::{Deserialize, Serialize};

use crate::{
    Db, Error, Result,
    database::encode,
    tables::{USERID_DEVICEID_DEVICE, USERID_DEVICEID_LASTSEEN},
};

/// When and from where a device was last used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastSeen {
    /// Client address.
    pub ip: Option<String>,
    /// Time, ms since the epoch.
    pub ts: u64,
}

/// One device of a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRecord {
    /// Name the user gave it.
    pub display_name: Option<String>,
    /// Hex sha256 of the current access token (the token itself is never stored).
    pub access_token_hash: Option<String>,
    /// Hex sha256 of the current refresh token, when the client asked for one.
    pub refresh_token_hash: Option<String>,
    /// Hex sha256 of the refresh token the current one replaced: it still works until the
    /// new tokens are first used, so a client whose refresh answer was lost can retry
    /// (spec: "Refreshing an access token").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retiring_refresh_token_hash: Option<String>,
    /// Client address at the last authenticated request.
    pub last_seen_ip: Option<String>,
    /// Time of the last authenticated request, ms since the epoch.
    pub last_seen_ts: Option<u64>,
    /// When the device logged in, ms since the epoch.
    pub created_ts: u64,
}

impl DeviceRecord {
    /// A device made at `created_ts`, with no name, tokens or activity yet.
    pub fn new(created_ts: u64) -> Self {
        Self {
            display_name: None,
            access_token_hash: None,
            refresh_token_hash: None,
            retiring_refresh_token_hash: None,
            last_seen_ip: None,
            last_seen_ts: None,
            created_ts,
        }
    }
}

fn device_key(user_id: &UserId, device_id: &DeviceId) -> Vec<u8> {
    KeyBuilder::new().str(user_id.as_str()).str(device_id.as_str()).build()
}

impl Db {
    /// One device, if it exists.
    pub fn get_device(&self, user_id: &UserId, device_id: &DeviceId) -> Result<Option<DeviceRecord>> {
        self.get_json(USERID_DEVICEID_DEVICE, &device_key(user_id, device_id))
    }

    /// All devices of `user_id`, ordered by device id.
    pub fn devices(&self, user_id: &UserId) -> Result<Vec<(OwnedDeviceId, DeviceRecord)>> {
        let prefix = KeyBuilder::new().str(user_id.as_str()).prefix();
        self.scan_json(USERID_DEVICEID_DEVICE, &prefix)?
            .into_iter()
            .map(|(key, record)| {
                let mut reader = KeyReader::new(&key);
                let corrupt = |reason: String| Error::Corrupt {
                    table: USERID_DEVICEID_DEVICE,
                    reason,
                };
                reader.str().map_err(|e| corrupt(e.to_string()))?;
                let device = reader.str().map_err(|e| corrupt(e.to_string()))?;
                Ok((OwnedDeviceId::from(device), record))
            })
            .collect()
    }

    /// Queues creating or replacing a device.
    pub fn put_device(&self, batch: &mut WriteBatch, user_id: &UserId, device_id: &DeviceId, device: &DeviceRecord) {
        batch.put(USERID_DEVICEID_DEVICE, device_key(user_id, device_id), encode(device));
    }

    /// Queues removing a device (its sessions are removed by the caller in the same batch).
    pub fn delete_device(&self, batch: &mut WriteBatch, user_id: &UserId, device_id: &DeviceId) {
        batch.delete(USERID_DEVICEID_DEVICE, device_key(user_id, device_id));
        batch.delete(USERID_DEVICEID_LASTSEEN, device_key(user_id, device_id));
    }

    /// A device's last activity, if recorded.
    pub fn get_last_seen(&self, user_id: &UserId, device_id: &DeviceId) -> Result<Option<LastSeen>> {
        self.get_json(USERID_DEVICEID_LASTSEEN, &device_key(user_id, device_id))
    }

    /// Records a device's activity (its own small write).
    pub fn put_last_seen(&self, user_id: &UserId, device_id: &DeviceId, seen: &LastSeen) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.put(USERID_DEVICEID_LASTSEEN, device_key(user_id, device_id), encode(seen));
        self.write(batch)
    }
}
