//! The cache of remote users' device lists (device keys and cross-signing keys), for users who
//! share a room with a local user: filled by resyncing through `/user/devices`, kept fresh by
//! their server's `m.device_list_update` and `m.signing_key_update` EDUs.

use std::collections::BTreeMap;

use accord_storage::WriteBatch;
use ruma::{OwnedDeviceId, UserId};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Db, Result, database::encode, tables::USERID_REMOTEDEVICELIST};

/// One remote device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteDevice {
    /// Its signed device keys, if it uploaded any.
    pub keys: Option<Value>,
    /// Its display name, as its server shares it.
    pub display_name: Option<String>,
}

/// A remote user's devices as their server last described them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteDeviceList {
    /// The `stream_id` of the last update applied; an update whose `prev_id` doesn't name it
    /// means one was missed, and the list is fetched again.
    pub stream_id: u64,
    /// The devices, by id.
    pub devices: BTreeMap<OwnedDeviceId, RemoteDevice>,
    /// The user's master cross-signing key.
    pub master_key: Option<Value>,
    /// The user's self-signing key.
    pub self_signing_key: Option<Value>,
}

impl Db {
    /// The cached device list of a remote user.
    pub fn get_remote_device_list(&self, user_id: &UserId) -> Result<Option<RemoteDeviceList>> {
        self.get_json(USERID_REMOTEDEVICELIST, user_id.as_bytes())
    }

    /// Queues storing the device list of a remote user.
    pub fn put_remote_device_list(&self, batch: &mut WriteBatch, user_id: &UserId, list: &RemoteDeviceList) {
        batch.put(USERID_REMOTEDEVICELIST, user_id.as_bytes(), encode(list));
    }

    /// Queues forgetting the device list of a remote user.
    pub fn delete_remote_device_list(&self, batch: &mut WriteBatch, user_id: &UserId) {
        batch.delete(USERID_REMOTEDEVICELIST, user_id.as_bytes());
    }
}
