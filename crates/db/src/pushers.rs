//! Pushers (spec: "Push notifications"): where a user's devices want notifications sent, one
//! per (user, app_id, pushkey), each remembering the device that set it (deleting the device
//! deletes its pushers, as Synapse does) and how far delivery got.

use accord_storage::{WriteBatch, codec::KeyBuilder};
use ruma::{DeviceId, OwnedDeviceId, OwnedUserId, UserId};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{
    Db, Result,
    database::encode,
    tables::{USERID_APPID_PUSHKEY_PUSHER, USERID_APPID_PUSHKEY_PUSHERPROGRESS},
};

/// One pusher as set by a client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PusherRecord {
    /// Its owner.
    pub user_id: OwnedUserId,
    /// `http` (or `email`, stored but not driven).
    pub kind: String,
    /// The app it belongs to.
    pub app_id: String,
    /// The device's key at the push gateway.
    pub pushkey: String,
    /// When `pushkey` was last set, ms since the epoch.
    pub pushkey_ts: u64,
    /// For people.
    pub app_display_name: String,
    /// For people.
    pub device_display_name: String,
    /// Chooses the push rules applied (unused by the spec's rules).
    pub profile_tag: Option<String>,
    /// The language notifications should be in.
    pub lang: String,
    /// `url` (for `http`), `format`, and anything else the gateway wants back.
    pub data: Value,
    /// The device that set it; deleting the device deletes the pusher.
    pub device_id: Option<OwnedDeviceId>,
}

/// How far a pusher's delivery got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PusherProgress {
    /// Notifications up to this stream position were delivered (or given up on).
    pub delivered_until: u64,
    /// Since when delivery has been failing, ms since the epoch.
    pub failing_since: Option<u64>,
}

fn pusher_key(user_id: &UserId, app_id: &str, pushkey: &str) -> Vec<u8> {
    KeyBuilder::new().str(user_id.as_str()).str(app_id).str(pushkey).build()
}

impl Db {
    /// Stores (or replaces) a pusher, its delivery starting after stream position `from`.
    pub fn put_pusher(&self, pusher: &PusherRecord, from: u64) -> Result<()> {
        let key = pusher_key(&pusher.user_id, &pusher.app_id, &pusher.pushkey);
        let mut batch = WriteBatch::new();
        if self
            .get_json::<PusherRecord>(USERID_APPID_PUSHKEY_PUSHER, &key)?
            .is_none()
        {
            let progress = PusherProgress {
                delivered_until: from,
                failing_since: None,
            };
            batch.put(USERID_APPID_PUSHKEY_PUSHERPROGRESS, key.clone(), encode(&progress));
        }
        batch.put(USERID_APPID_PUSHKEY_PUSHER, key, encode(pusher));
        self.write(batch)
    }

    /// Deletes a pusher; returns whether it existed.
    pub fn delete_pusher(&self, user_id: &UserId, app_id: &str, pushkey: &str) -> Result<bool> {
        let key = pusher_key(user_id, app_id, pushkey);
        if self
            .get_json::<PusherRecord>(USERID_APPID_PUSHKEY_PUSHER, &key)?
            .is_none()
        {
            return Ok(false);
        }
        let mut batch = WriteBatch::new();
        batch.delete(USERID_APPID_PUSHKEY_PUSHER, key.clone());
        batch.delete(USERID_APPID_PUSHKEY_PUSHERPROGRESS, key);
        self.write(batch)?;
        Ok(true)
    }

    /// A user's pushers.
    pub fn pushers_of(&self, user_id: &UserId) -> Result<Vec<PusherRecord>> {
        let prefix = KeyBuilder::new().str(user_id.as_str()).prefix();
        Ok(self
            .scan_json::<PusherRecord>(USERID_APPID_PUSHKEY_PUSHER, &prefix)?
            .into_iter()
            .map(|(_, pusher)| pusher)
            .collect())
    }

    /// Every pusher of every user (the sender's work list).
    pub fn all_pushers(&self) -> Result<Vec<PusherRecord>> {
        Ok(self
            .scan_json::<PusherRecord>(USERID_APPID_PUSHKEY_PUSHER, &[])?
            .into_iter()
            .map(|(_, pusher)| pusher)
            .collect())
    }

    /// Pushers of other users with this (app_id, pushkey): a pushkey belongs to one device,
    /// so a new owner replaces the old one (spec `append: false`).
    pub fn pushers_with_key(&self, app_id: &str, pushkey: &str) -> Result<Vec<PusherRecord>> {
        Ok(self
            .all_pushers()?
            .into_iter()
            .filter(|p| p.app_id == app_id && p.pushkey == pushkey)
            .collect())
    }

    /// A pusher's delivery progress.
    pub fn pusher_progress(&self, pusher: &PusherRecord) -> Result<PusherProgress> {
        let key = pusher_key(&pusher.user_id, &pusher.app_id, &pusher.pushkey);
        Ok(self
            .get_json(USERID_APPID_PUSHKEY_PUSHERPROGRESS, &key)?
            .unwrap_or_default())
    }

    /// Records a pusher's delivery progress (only while the pusher exists).
    pub fn put_pusher_progress(&self, pusher: &PusherRecord, progress: &PusherProgress) -> Result<()> {
        let key = pusher_key(&pusher.user_id, &pusher.app_id, &pusher.pushkey);
        if self
            .get_json::<PusherRecord>(USERID_APPID_PUSHKEY_PUSHER, &key)?
            .is_none()
        {
            return Ok(());
        }
        let mut batch = WriteBatch::new();
        batch.put(USERID_APPID_PUSHKEY_PUSHERPROGRESS, key, encode(progress));
        self.write(batch)
    }

    /// Queues deleting the pushers a device set (the device is being deleted).
    pub fn delete_device_pushers(&self, batch: &mut WriteBatch, user_id: &UserId, device_id: &DeviceId) -> Result<()> {
        for pusher in self.pushers_of(user_id)? {
            if pusher.device_id.as_deref() == Some(device_id) {
                let key = pusher_key(user_id, &pusher.app_id, &pusher.pushkey);
                batch.delete(USERID_APPID_PUSHKEY_PUSHER, key.clone());
                batch.delete(USERID_APPID_PUSHKEY_PUSHERPROGRESS, key);
            }
        }
        Ok(())
    }
}
