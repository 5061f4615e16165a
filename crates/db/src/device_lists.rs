//! The stream of device list changes: which users' devices or device keys changed at which
//! stream position, so clients learn whose keys to fetch again. Changes of local users also go
//! to an outbox, from which they are announced to other servers.

use accord_storage::{Direction, WriteBatch};
use ruma::{OwnedDeviceId, OwnedUserId, UserId};
use serde::{Deserialize, Serialize};

use crate::{
    Db, Result,
    database::{decode, decode_id, encode},
    rooms::decode_count,
    tables::{COUNT_DEVICELISTUSERID, COUNT_LOCALDEVICECHANGE, USERID_DEVICELISTVERSION},
};

/// A change of a local user's devices or cross-signing keys, waiting to be announced to the
/// servers that share a room with them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalDeviceChange {
    /// Whose devices changed.
    pub user_id: OwnedUserId,
    /// The devices added, changed or deleted.
    pub devices: Vec<OwnedDeviceId>,
    /// Whether the master or self-signing key changed.
    pub signing_keys: bool,
}

impl Db {
    /// Queues recording that `user_id`'s device list changed at `count`.
    pub fn put_device_list_change(&self, batch: &mut WriteBatch, count: u64, user_id: &UserId) {
        batch.put(COUNT_DEVICELISTUSERID, count.to_be_bytes(), user_id.as_bytes());
    }

    /// Records, at the next stream position, that a remote user's device list changed (after
    /// the change itself is written, so a client that refetches sees it).
    pub fn record_device_list_change(&self, user_id: &UserId) -> Result<u64> {
        self.write_at_next_count(|batch, count| self.put_device_list_change(batch, count, user_id))
    }

    /// Records, at the next stream position, a change of a local user's devices (or signing
    /// keys), for local clients and for announcing to other servers.
    pub fn record_local_device_change(&self, change: &LocalDeviceChange) -> Result<u64> {
        self.write_at_next_count(|batch, count| {
            self.put_device_list_change(batch, count, &change.user_id);
            batch.put(COUNT_LOCALDEVICECHANGE, count.to_be_bytes(), encode(change));
        })
    }

    /// Up to `limit` local changes not announced yet, oldest first.
    pub fn local_device_changes(&self, limit: usize) -> Result<Vec<(u64, LocalDeviceChange)>> {
        self.engine()
            .iter_from(COUNT_LOCALDEVICECHANGE, None, Direction::Forward)?
            .take(limit)
            .map(|item| {
                let (key, value) = item?;
                Ok((
                    decode_count(COUNT_LOCALDEVICECHANGE, &key)?,
                    decode(COUNT_LOCALDEVICECHANGE, &value)?,
                ))
            })
            .collect()
    }

    /// Queues removing an announced local change from the outbox.
    pub fn delete_local_device_change(&self, batch: &mut WriteBatch, count: u64) {
        batch.delete(COUNT_LOCALDEVICECHANGE, count.to_be_bytes());
    }

    /// The `stream_id` of a local user's last announced device list update (0: none yet).
    pub fn device_list_version(&self, user_id: &UserId) -> Result<u64> {
        Ok(self
            .get_raw(USERID_DEVICELISTVERSION, user_id.as_bytes())?
            .map(|bytes| decode_count(USERID_DEVICELISTVERSION, &bytes))
            .transpose()?
            .unwrap_or(0))
    }

    /// Queues storing a local user's last announced `stream_id`.
    pub fn put_device_list_version(&self, batch: &mut WriteBatch, user_id: &UserId, version: u64) {
        batch.put(
            USERID_DEVICELISTVERSION,
            user_id.as_bytes(),
            version.to_be_bytes().to_vec(),
        );
    }

    /// Users whose device lists changed in `(since, until]`, each once.
    pub fn device_list_changes(&self, since: u64, until: u64) -> Result<Vec<OwnedUserId>> {
        let mut users = Vec::new();
        let start = since.saturating_add(1).to_be_bytes();
        for item in self
            .engine()
            .iter_from(COUNT_DEVICELISTUSERID, Some(&start), Direction::Forward)?
        {
            let (key, value) = item?;
            if decode_count(COUNT_DEVICELISTUSERID, &key)? > until {
                break;
            }
            let user: OwnedUserId = decode_id(COUNT_DEVICELISTUSERID, &value)?;
            if !users.contains(&user) {
                users.push(user);
            }
        }
        Ok(users)
    }
}
