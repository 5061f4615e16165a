//! Dehydrated devices (MSC3814): at most one per user, a device whose encrypted state the
//! client parks on the server so that it receives to-device messages while no client runs.

use accord_storage::WriteBatch;
use ruma::{OwnedDeviceId, UserId};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Db, Result, database::encode, tables::USERID_DEHYDRATEDDEVICE};

/// A user's dehydrated device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DehydratedDevice {
    /// Its device id (a device record with no access token).
    pub device_id: OwnedDeviceId,
    /// The client's encrypted pickle of the device, opaque to the server.
    pub device_data: Value,
}

impl Db {
    /// The user's dehydrated device, if any.
    pub fn get_dehydrated_device(&self, user_id: &UserId) -> Result<Option<DehydratedDevice>> {
        self.get_json(USERID_DEHYDRATEDDEVICE, user_id.as_bytes())
    }

    /// Queues storing (`Some`) or removing the user's dehydrated device.
    pub fn put_dehydrated_device(&self, batch: &mut WriteBatch, user_id: &UserId, device: Option<&DehydratedDevice>) {
        match device {
            Some(device) => batch.put(USERID_DEHYDRATEDDEVICE, user_id.as_bytes(), encode(device)),
            None => batch.delete(USERID_DEHYDRATEDDEVICE, user_id.as_bytes()),
        }
    }
}
