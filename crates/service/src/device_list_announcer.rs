//! Announces local users' device and cross-signing key changes to other servers: a background
//! task that drains the outbox of local device changes into the durable EDU queue, one
//! `m.device_list_update` per changed device (with `stream_id` and `prev_id`, so receivers
//! notice a gap) and an `m.signing_key_update` when the master or self-signing key changed, for
//! every server sharing a room with the user. Each change leaves the outbox in the batch that
//! queues its EDUs, so a crash neither loses nor repeats one. Once an hour it also forgets
//! remote to-device message ids older than a week.

use ruma::events::room::member::MembershipState;
use std::{collections::BTreeSet, time::Duration};

use accord_db::{LocalDeviceChange, WriteBatch};
use ruma::{
    OwnedServerName, UInt,
    api::federation::transactions::edu::{DeviceListUpdateContent, Edu, SigningKeyUpdateContent},
};
use serde_json::Value;
use tokio::sync::watch;

use crate::{Result, Services, edu_json, raw::raw_json};

/// Changes handled per pass.
const BATCH: usize = 100;
/// How often the outbox is looked at when nothing wakes the task.
const IDLE_POLL: Duration = Duration::from_secs(30);
/// How often old remote to-device message ids are pruned (a scan of that table).
const PRUNE_EVERY: Duration = Duration::from_secs(60 * 60);

/// Runs until `stop` turns true.
pub async fn run_device_list_announcer(services: Services, mut stop: watch::Receiver<bool>) {
    let mut stream = services.db().subscribe_stream();
    let mut last_prune: Option<std::time::Instant> = None;
    loop {
        let result = {
            let services = services.clone();
            tokio::task::spawn_blocking(move || services.announce_device_changes()).await
        };
        match result {
            Ok(Ok(true)) => continue,
            Ok(Ok(false)) => {}
            Ok(Err(err)) => tracing::error!(%err, "cannot announce device list changes"),
            Err(err) => tracing::error!(%err, "device list announcer task failed"),
        }
        if last_prune.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
            last_prune = Some(std::time::Instant::now());
            let services = services.clone();
            match tokio::task::spawn_blocking(move || services.prune_to_device_ids()).await {
                Ok(Ok(removed)) if removed > 0 => tracing::info!(removed, "pruned old remote to-device message ids"),
                Ok(Ok(_)) => {}
                Ok(Err(err)) => tracing::warn!(%err, "cannot prune remote to-device message ids"),
                Err(err) => tracing::warn!(%err, "to-device id pruning task failed"),
            }
        }
        tokio::select! {
            _ = stream.changed() => {}
            () = tokio::time::sleep(IDLE_POLL) => {}
            _ = stop.wait_for(|stop| *stop) => return,
        }
    }
}

impl Services {
    /// Queues EDUs for up to [`BATCH`] outbox entries. Returns whether more may be waiting.
    fn announce_device_changes(&self) -> Result<bool> {
        let db = self.db();
        let changes = db.local_device_changes(BATCH)?;
        let mut queued = false;
        for (count, change) in &changes {
            let mut batch = WriteBatch::new();
            if let Some(federation) = &self.federation {
                let servers: BTreeSet<OwnedServerName> = self
                    .servers_sharing_rooms_with(&change.user_id)?
                    .into_iter()
                    .filter(|server| federation.allows(server))
                    .collect();
                for edu in self.device_change_edus(&mut batch, change, !servers.is_empty())? {
                    for server in &servers {
                        db.queue_durable_edu(&mut batch, server, &edu);
                        queued = true;
                    }
                }
            }
            db.delete_local_device_change(&mut batch, *count);
            db.write(batch)?;
        }
        if queued && let Some(federation) = &self.federation {
            federation.wake_sender();
        }
        Ok(changes.len() == BATCH)
    }

    /// After a local user joined `room_id`: the servers in it that shared no other room with
    /// her learn her devices now, each at its current version, so their users can encrypt to
    /// her without waiting for her next device change (spec: "the server should send
    /// m.device_list_update EDUs ... when a user joins a room with a server it did not share a
    /// room with"; Complement's TestDeviceListsUpdateOverFederationOnRoomJoin).
    pub(crate) fn announce_devices_to_new_servers(&self, user_id: &ruma::UserId, room_id: &ruma::RoomId) -> Result<()> {
        let Some(federation) = &self.federation else {
            return Ok(());
        };
        let already = self.servers_sharing_rooms_except(user_id, Some(room_id))?;
        let new_servers: Vec<OwnedServerName> = self
            .rooms
            .rooms()
            .remote_servers(room_id, &[MembershipState::Join])?
            .into_iter()
            .filter(|server| !already.contains(server) && federation.allows(server))
            .collect();
        if new_servers.is_empty() {
            return Ok(());
        }
        let db = self.db();
        let version = db.device_list_version(user_id)?;
        let mut batch = WriteBatch::new();
        for (device_id, record) in db.devices(user_id)? {
            let edu = self.device_list_update(user_id, &device_id, Some(record), version, None)?;
            for server in &new_servers {
                db.queue_durable_edu(&mut batch, server, &edu);
            }
        }
        db.write(batch)?;
        federation.wake_sender();
        tracing::debug!(user = %user_id, room = %room_id, servers = new_servers.len(), "devices announced to servers met on a join");
        Ok(())
    }

    /// The EDUs announcing one change; advances the user's device list version in `batch`
    /// (always, so `/user/devices` reports a fresh `stream_id` even when no one is told).
    fn device_change_edus(
        &self,
        batch: &mut WriteBatch,
        change: &LocalDeviceChange,
        build: bool,
    ) -> Result<Vec<Value>> {
        let db = self.db();
        let user_id = &change.user_id;
        let mut version = db.device_list_version(user_id)?;
        let mut edus = Vec::new();
        for device_id in &change.devices {
            let prev = version;
            version += 1;
            if !build {
                continue;
            }
            let record = db.get_device(user_id, device_id)?;
            edus.push(self.device_list_update(user_id, device_id, record, version, (prev != 0).then_some(prev))?);
        }
        if change.signing_keys
            && build
            && let Some(keys) = db.get_cross_signing_keys(user_id)?
        {
            let mut content = SigningKeyUpdateContent::new(user_id.clone());
            content.master_key = keys.master.as_ref().map(raw_json).transpose()?;
            content.self_signing_key = keys.self_signing.as_ref().map(raw_json).transpose()?;
            edus.push(edu_json(&Edu::SigningKeyUpdate(content))?);
        }
        db.put_device_list_version(batch, user_id, version);
        Ok(edus)
    }

    /// One `m.device_list_update` EDU: the device at `version` (after `prev`), with its keys
    /// (and its name, when names are shared), or marked deleted when it has no record.
    fn device_list_update(
        &self,
        user_id: &ruma::UserId,
        device_id: &ruma::DeviceId,
        record: Option<accord_db::DeviceRecord>,
        version: u64,
        prev: Option<u64>,
    ) -> Result<Value> {
        let mut content =
            DeviceListUpdateContent::new(user_id.to_owned(), device_id.to_owned(), UInt::new_saturating(version));
        content.prev_id = prev.map(UInt::new_saturating).into_iter().collect();
        match record {
            None => content.deleted = Some(true),
            Some(record) => {
                if let Some(keys) = self.db().get_device_keys(user_id, device_id)? {
                    content.keys = Some(raw_json(&keys)?);
                }
                if self.config.federation.share_device_names {
                    content.device_display_name = record.display_name;
                }
            }
        }
        edu_json(&Edu::DeviceListUpdate(content))
    }

    /// Other servers with a member in a room `user_id` is joined to.
    pub(crate) fn servers_sharing_rooms_with(&self, user_id: &ruma::UserId) -> Result<BTreeSet<OwnedServerName>> {
        self.servers_sharing_rooms_except(user_id, None)
    }

    /// Like [`Self::servers_sharing_rooms_with`], leaving out the room `except`.
    fn servers_sharing_rooms_except(
        &self,
        user_id: &ruma::UserId,
        except: Option<&ruma::RoomId>,
    ) -> Result<BTreeSet<OwnedServerName>> {
        let mut servers = BTreeSet::new();
        for room in self.rooms.joined_rooms(user_id)? {
            if Some(room.as_ref()) != except {
                servers.extend(self.rooms.rooms().remote_servers(&room, &[MembershipState::Join])?);
            }
        }
        Ok(servers)
    }
}
