//! Device lists across servers (spec: server-server "Device Management"): serving local users'
//! lists (`/user/devices`), and keeping a cache of remote users' lists for users who share a
//! room with a local user. The cache is filled by a resync through `/user/devices` and kept
//! fresh by `m.device_list_update` and `m.signing_key_update` EDUs; an update whose `prev_id`
//! doesn't name the last one applied means one was missed, and the list is fetched again.

use accord_db::{RemoteDevice, RemoteDeviceList, WriteBatch};
use ruma::{
    ServerName, UInt, UserId,
    api::federation::{
        device::get_devices::v1 as get_devices,
        transactions::edu::{DeviceListUpdateContent, SigningKeyUpdateContent},
    },
};
use serde_json::Value;

use crate::{Error, Result, Services, raw::raw_json};

fn raw_to_value<T>(raw: &ruma::serde::Raw<T>) -> Option<Value> {
    serde_json::from_str(raw.json().get()).ok()
}

impl Services {
    /// `GET /_matrix/federation/v1/user/devices/{userId}` for a local user. Device names only
    /// with `federation.share_device_names`, as in `/user/keys/query`.
    pub fn local_user_devices(&self, user_id: &UserId) -> Result<get_devices::Response> {
        if user_id.server_name() != self.config.server_name {
            return Err(Error::not_found(format!("{user_id} is not a user of this server")));
        }
        let db = self.db();
        let stream_id = UInt::try_from(db.device_list_version(user_id)?).unwrap_or(UInt::MAX);
        let mut answer = get_devices::Response::new(user_id.to_owned(), stream_id);
        for (device_id, record) in db.devices(user_id)? {
            if let Some(keys) = db.get_device_keys(user_id, &device_id)? {
                let mut device = get_devices::UserDevice::new(device_id, raw_json(&keys)?);
                if self.config.federation.share_device_names {
                    device.device_display_name = record.display_name;
                }
                answer.devices.push(device);
            }
        }
        if let Some(keys) = db.get_cross_signing_keys(user_id)? {
            answer.master_key = keys.master.as_ref().map(raw_json).transpose()?;
            answer.self_signing_key = keys.self_signing.as_ref().map(raw_json).transpose()?;
        }
        Ok(answer)
    }

    /// The cached device list of a remote user, when it is kept fresh (they share a room with
    /// a local user, so their server sends us updates).
    pub(crate) fn fresh_remote_device_list(
        &self,
        user_id: &UserId,
        memo: &mut crate::remote_presence::ResidentMemo,
    ) -> Result<Option<RemoteDeviceList>> {
        match self.db().get_remote_device_list(user_id)? {
            Some(list) if self.shares_room_with_local_user_memo(user_id, memo) => Ok(Some(list)),
            _ => Ok(None),
        }
    }

    /// Drops the cached device list of a remote user who joins a room: if they shared no room
    /// with a local user before, nobody kept the copy fresh, so it is fetched again when
    /// needed. (A join is rare; a needless refetch costs one request.)
    pub(crate) fn forget_devices_of_joining_user(&self, event: &ruma::CanonicalJsonObject) {
        use ruma::CanonicalJsonValue::{Object, String};
        let is_join = matches!(event.get("type"), Some(String(kind)) if kind == "m.room.member")
            && matches!(event.get("content"), Some(Object(content))
                if matches!(content.get("membership"), Some(String(m)) if m == "join"));
        let Some(String(user)) = event.get("state_key").filter(|_| is_join) else {
            return;
        };
        let Ok(user_id) = UserId::parse(user.as_str()) else {
            return;
        };
        if user_id.server_name() == self.config.server_name {
            return;
        }
        let db = self.db();
        if matches!(db.get_remote_device_list(&user_id), Ok(Some(_))) {
            let mut batch = WriteBatch::new();
            db.delete_remote_device_list(&mut batch, &user_id);
            if let Err(err) = db.write(batch) {
                tracing::warn!(user = %user_id, %err, "cannot drop a cached device list");
            }
        }
    }

    /// An `m.device_list_update` EDU: applied to the cache when it follows the last update
    /// applied, else the list is fetched again. Local clients see the user under
    /// `device_lists.changed` either way.
    pub fn receive_device_list_update(&self, origin: &ServerName, content: &DeviceListUpdateContent) {
        let Some(user_id) = self.tracked_user_of(origin, &content.user_id) else {
            return;
        };
        let stream_id = u64::from(content.stream_id);
        let prev_ids: Vec<u64> = content.prev_id.iter().map(|id| u64::from(*id)).collect();
        let outcome = (|| -> Result<()> {
            let db = self.db();
            if let Some(mut list) = db.get_remote_device_list(&user_id)? {
                if stream_id <= list.stream_id {
                    return Ok(()); // Already applied (a retried transaction).
                }
                if !prev_ids.is_empty() && !prev_ids.contains(&list.stream_id) {
                    tracing::info!(user = %user_id, stream_id, known = list.stream_id, "device list update out of order; resyncing");
                    self.spawn_device_list_resync(user_id.clone());
                    return Ok(());
                }
                apply_device_update(&mut list, content);
                list.stream_id = stream_id;
                let mut batch = WriteBatch::new();
                db.put_remote_device_list(&mut batch, &user_id, &list);
                db.write(batch)?;
            }
            db.record_device_list_change(&user_id)?;
            Ok(())
        })();
        if let Err(err) = outcome {
            tracing::warn!(%origin, user = %user_id, %err, "device list update not applied");
        }
    }

    /// An `m.signing_key_update` EDU: new cross-signing keys of one of the origin's users.
    pub fn receive_signing_key_update(&self, origin: &ServerName, content: &SigningKeyUpdateContent) {
        let Some(user_id) = self.tracked_user_of(origin, &content.user_id) else {
            return;
        };
        let outcome = (|| -> Result<()> {
            let db = self.db();
            if let Some(mut list) = db.get_remote_device_list(&user_id)? {
                if let Some(master) = content.master_key.as_ref().and_then(raw_to_value) {
                    list.master_key = Some(master);
                }
                if let Some(self_signing) = content.self_signing_key.as_ref().and_then(raw_to_value) {
                    list.self_signing_key = Some(self_signing);
                }
                let mut batch = WriteBatch::new();
                db.put_remote_device_list(&mut batch, &user_id, &list);
                db.write(batch)?;
            }
            db.record_device_list_change(&user_id)?;
            Ok(())
        })();
        if let Err(err) = outcome {
            tracing::warn!(%origin, user = %user_id, %err, "signing key update not applied");
        }
    }

    /// The EDU's `user_id`, if it is one of `origin`'s users whose devices this server follows
    /// (they share a room with a local user); updates about anyone else are ignored.
    fn tracked_user_of(&self, origin: &ServerName, user_id: &UserId) -> Option<ruma::OwnedUserId> {
        (user_id.server_name() == origin && self.shares_room_with_local_user(user_id)).then(|| user_id.to_owned())
    }

    /// Fetches a remote user's whole device list in the background.
    pub(crate) fn spawn_device_list_resync(&self, user_id: ruma::OwnedUserId) {
        let services = self.clone();
        tokio::spawn(async move {
            if let Err(err) = services.resync_remote_devices(&user_id).await {
                tracing::info!(user = %user_id, %err, "device list resync failed");
            }
        });
    }

    /// Fetches a remote user's whole device list through `/user/devices` into the cache.
    pub async fn resync_remote_devices(&self, user_id: &UserId) -> Result<()> {
        let Some(federation) = &self.federation else {
            return Ok(());
        };
        let server = user_id.server_name();
        let response = federation
            .client()
            .send(server, get_devices::Request::new(user_id.to_owned()))
            .await
            .map_err(|err| Error::Internal(format!("/user/devices from {server}: {err}")))?;
        if response.user_id != user_id {
            return Err(Error::Internal(format!(
                "{server} answered for {} instead",
                response.user_id
            )));
        }
        let mut list = RemoteDeviceList {
            stream_id: response.stream_id.into(),
            master_key: response.master_key.as_ref().and_then(raw_to_value),
            self_signing_key: response.self_signing_key.as_ref().and_then(raw_to_value),
            ..RemoteDeviceList::default()
        };
        for device in response.devices {
            let keys = raw_to_value(&device.keys)
                .filter(|keys| keys["user_id"] == user_id.as_str() && keys["device_id"] == device.device_id.as_str());
            list.devices.insert(
                device.device_id,
                RemoteDevice {
                    keys,
                    display_name: device.device_display_name,
                },
            );
        }
        let db = self.db();
        let mut batch = WriteBatch::new();
        db.put_remote_device_list(&mut batch, user_id, &list);
        db.write(batch)?;
        db.record_device_list_change(user_id)?;
        tracing::debug!(user = %user_id, devices = list.devices.len(), "device list resynced");
        Ok(())
    }
}

/// Applies one `m.device_list_update` to a cached list.
fn apply_device_update(list: &mut RemoteDeviceList, content: &DeviceListUpdateContent) {
    let device_id = &content.device_id;
    if content.deleted == Some(true) {
        list.devices.remove(device_id);
        return;
    }
    let device = list.devices.entry(device_id.clone()).or_default();
    // Keys are kept as the origin signed them; ones naming another device or user are not.
    if let Some(keys) = content.keys.as_ref().and_then(raw_to_value)
        && keys["device_id"] == device_id.as_str()
        && keys["user_id"] == content.user_id.as_str()
    {
        device.keys = Some(keys);
    }
    if let Some(name) = &content.device_display_name {
        device.display_name = Some(name.clone());
    }
}
