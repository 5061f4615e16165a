//! Dehydrated devices (MSC3814, unstable `org.matrix.msc3814.v1`, as Element uses it): a client
//! parks an encrypted device on the server; it is a device without access token that gets keys
//! and to-device messages like any other, which a later login rehydrates and drains through
//! `/dehydrated_device/{deviceId}/events`.

use accord_core::time::now_millis;
use accord_db::{DehydratedDevice, DeviceRecord, WriteBatch};
use ruma::{
    DeviceId, OwnedDeviceId, UserId,
    api::client::dehydrated_device::{
        DehydratedDeviceData, get_dehydrated_device::unstable as get_device, get_events::unstable as get_events,
    },
    serde::Raw,
};

use crate::{
    AuthedUser, Error, Result, Services,
    device_keys::KeyUpload,
    raw::{json_of, raw_json},
};

/// Most to-device messages per `/events` page.
const EVENTS_PER_PAGE: usize = 100;

/// A dehydrated device to store (`PUT /dehydrated_device`).
#[derive(Debug)]
pub struct DehydratedDeviceUpload {
    /// The device's id.
    pub device_id: OwnedDeviceId,
    /// Its display name.
    pub display_name: Option<String>,
    /// The client's pickle of the device.
    pub device_data: Raw<DehydratedDeviceData>,
    /// Its identity, one-time and fallback keys.
    pub keys: KeyUpload,
}

impl Services {
    /// `PUT /dehydrated_device`: replaces the user's dehydrated device.
    pub fn put_dehydrated_device(&self, user_id: &UserId, upload: DehydratedDeviceUpload) -> Result<OwnedDeviceId> {
        let db = self.db();
        let device_id = upload.device_id;
        let old = db.get_dehydrated_device(user_id)?;
        if db.get_device(user_id, &device_id)?.is_some() && old.as_ref().map(|d| &d.device_id) != Some(&device_id) {
            return Err(Error::invalid_param(format!(
                "Device {device_id} already exists and is not your dehydrated device"
            )));
        }
        let mut batch = WriteBatch::new();
        let mut deleted = Vec::new();
        if let Some(old) = old
            && self.sessions.delete_device(&mut batch, user_id, &old.device_id)?
        {
            deleted.push(old.device_id);
        }
        let record = DeviceRecord {
            display_name: upload.display_name,
            access_token_hash: None,
            refresh_token_hash: None,
            retiring_refresh_token_hash: None,
            last_seen_ip: None,
            last_seen_ts: None,
            created_ts: now_millis(),
        };
        db.put_device(&mut batch, user_id, &device_id, &record);
        let parked = DehydratedDevice {
            device_id: device_id.clone(),
            device_data: json_of(&upload.device_data)?,
        };
        db.put_dehydrated_device(&mut batch, user_id, Some(&parked));
        db.write(batch)?;
        if !deleted.is_empty() {
            db.record_local_device_change(&crate::sessions::device_change(user_id, deleted))?;
        }
        let device = AuthedUser {
            user_id: user_id.to_owned(),
            device_id: device_id.clone(),
            appservice: None,
        };
        if let Err(err) = self.upload_keys(&device, upload.keys) {
            // Keys that fail the checks leave no half-made device behind.
            let mut batch = WriteBatch::new();
            self.sessions.delete_device(&mut batch, user_id, &device_id)?;
            db.put_dehydrated_device(&mut batch, user_id, None);
            db.write(batch)?;
            return Err(err);
        }
        Ok(device_id)
    }

    /// `GET /dehydrated_device`.
    pub fn get_dehydrated_device(&self, user_id: &UserId) -> Result<get_device::Response> {
        let device = self
            .db()
            .get_dehydrated_device(user_id)?
            .ok_or_else(|| Error::not_found("You have no dehydrated device"))?;
        Ok(get_device::Response::new(
            device.device_id,
            raw_json(&device.device_data)?,
        ))
    }

    /// `DELETE /dehydrated_device`.
    pub fn delete_dehydrated_device(&self, user_id: &UserId) -> Result<OwnedDeviceId> {
        let db = self.db();
        let device = db
            .get_dehydrated_device(user_id)?
            .ok_or_else(|| Error::not_found("You have no dehydrated device"))?;
        let mut batch = WriteBatch::new();
        self.sessions.delete_device(&mut batch, user_id, &device.device_id)?;
        db.put_dehydrated_device(&mut batch, user_id, None);
        db.write(batch)?;
        db.record_local_device_change(&crate::sessions::device_change(user_id, vec![device.device_id.clone()]))?;
        Ok(device.device_id)
    }

    /// `POST /dehydrated_device/{deviceId}/events`: deletes the messages up to `next_batch`
    /// (acknowledged), returns the next page and its token.
    pub fn dehydrated_device_events(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        next_batch: Option<&str>,
    ) -> Result<get_events::Response> {
        let db = self.db();
        let ours = db.get_dehydrated_device(user_id)?.map(|d| d.device_id);
        if ours.as_deref() != Some(device_id) {
            return Err(Error::forbidden(format!("{device_id} is not your dehydrated device")));
        }
        let acknowledged = match next_batch {
            Some(token) => Some(
                token
                    .parse::<u64>()
                    .map_err(|_| Error::invalid_param(format!("Invalid next_batch {token}")))?,
            ),
            None => None,
        };
        if let Some(upto) = acknowledged {
            db.delete_to_device_upto(user_id, device_id, upto)?;
        }
        let messages = db.to_device_messages(user_id, device_id, db.visible_count(), EVENTS_PER_PAGE)?;
        let next = messages.last().map(|(count, _)| *count).or(acknowledged);
        let events = messages
            .into_iter()
            .map(|(_, message)| raw_json(&crate::to_device::to_device_event(&message)))
            .collect::<Result<_>>()?;
        let mut answer = get_events::Response::new(events);
        answer.next_batch = next.map(|next| next.to_string());
        Ok(answer)
    }
}
