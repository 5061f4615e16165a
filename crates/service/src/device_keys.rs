//! End-to-end encryption keys of local devices (spec: client-server "End-to-End Encryption"):
//! uploading identity, one-time and fallback keys, querying them, and claiming one-time keys
//! (each handed out once; the fallback key when none is left).

use ruma::events::room::member::MembershipState;
use std::collections::{BTreeMap, BTreeSet};

use accord_db::{FallbackKey, WriteBatch};
use ruma::{
    DeviceId, OneTimeKeyAlgorithm, OneTimeKeyId, OwnedDeviceId, OwnedOneTimeKeyId, OwnedUserId, UInt, UserId,
    encryption::{DeviceKeys, OneTimeKey},
    serde::Raw,
};
use serde_json::{Value, json};

use crate::{
    AuthedUser, Error, Result, Services,
    raw::{json_of, raw_json},
};

/// Keys uploaded by a device (`POST /keys/upload`).
#[derive(Debug, Default)]
pub struct KeyUpload {
    /// The device's signed identity keys.
    pub device_keys: Option<Raw<DeviceKeys>>,
    /// One-time keys by `algorithm:key_id`.
    pub one_time_keys: BTreeMap<OwnedOneTimeKeyId, Raw<OneTimeKey>>,
    /// Fallback keys by `algorithm:key_id` (one per algorithm).
    pub fallback_keys: BTreeMap<OwnedOneTimeKeyId, Raw<OneTimeKey>>,
}

/// What `device_lists` of a sync window holds, and who started sharing a room in it.
#[derive(Debug, Default)]
pub(crate) struct DeviceListChanges {
    /// Users whose devices the client must fetch again.
    pub changed: Vec<OwnedUserId>,
    /// Users who no longer share a room with the client's user.
    pub left: Vec<OwnedUserId>,
    /// Users who joined a room with the client's user (or whose room it joined) in the window.
    pub newly_shared: BTreeSet<OwnedUserId>,
}

/// Device identity keys by user and device, as `/keys/query` answers them.
pub type DeviceKeysByUser = BTreeMap<OwnedUserId, BTreeMap<OwnedDeviceId, Raw<DeviceKeys>>>;

/// Claimed keys by user, device and key id, as `/keys/claim` answers them.
pub type ClaimedKeys = BTreeMap<OwnedUserId, BTreeMap<OwnedDeviceId, BTreeMap<OwnedOneTimeKeyId, Raw<OneTimeKey>>>>;

/// One-time key counts by algorithm, as `/keys/upload` and `/sync` report them.
pub type KeyCounts = BTreeMap<OneTimeKeyAlgorithm, UInt>;

fn algorithm_of(key_id: &str) -> Result<&str> {
    match key_id.split_once(':') {
        Some((algorithm, id)) if !algorithm.is_empty() && !id.is_empty() => Ok(algorithm),
        _ => Err(Error::invalid_param(format!(
            "Key id {key_id} is not of the form <algorithm>:<key_id>"
        ))),
    }
}

/// Checks uploaded identity keys: they name the caller and its device, and have the shape
/// the spec gives them (`algorithms` a list, `keys` an object of strings), else `M_BAD_JSON`.
/// Signatures are the clients' to verify, as Synapse leaves them: a client that uploads before
/// signing (Complement's TestDeviceListUpdates does) is served.
fn check_device_keys(user: &AuthedUser, keys: &Value) -> Result<()> {
    if keys["user_id"].as_str() != Some(user.user_id.as_str()) {
        return Err(Error::invalid_param("device_keys.user_id must be your own user id"));
    }
    if keys["device_id"].as_str() != Some(user.device_id.as_str()) {
        return Err(Error::invalid_param(
            "device_keys.device_id must be the device making the request",
        ));
    }
    let algorithms_ok = keys["algorithms"]
        .as_array()
        .is_some_and(|list| list.iter().all(Value::is_string));
    let keys_ok = keys["keys"]
        .as_object()
        .is_some_and(|map| !map.is_empty() && map.values().all(Value::is_string));
    if !algorithms_ok || !keys_ok {
        return Err(Error::bad_json(
            "device_keys needs `algorithms` (a list of strings) and `keys` (an object of strings)",
        ));
    }
    Ok(())
}

impl Services {
    /// `POST /keys/upload`: stores the caller's keys; returns its one-time key counts.
    pub fn upload_keys(&self, user: &AuthedUser, upload: KeyUpload) -> Result<KeyCounts> {
        if !user.has_device() {
            return Err(crate::Error::new(
                ruma::api::error::ErrorKind::MissingParam,
                "Keys belong to a device: name one with device_id (log the user in first to get one)",
            ));
        }
        let db = self.db();
        let (user_id, device_id) = (&user.user_id, &user.device_id);
        let mut batch = WriteBatch::new();
        let mut keys_changed = false;
        if let Some(keys) = &upload.device_keys {
            let keys = json_of(keys)?;
            check_device_keys(user, &keys)?;
            keys_changed = db.get_device_keys(user_id, device_id)?.as_ref() != Some(&keys);
            db.put_device_keys(&mut batch, user_id, device_id, &keys);
        }
        let mut new_keys = Vec::new();
        for (key_id, key) in &upload.one_time_keys {
            let (key_id, key) = (key_id.as_str(), json_of(key)?);
            algorithm_of(key_id)?;
            match db.get_one_time_key(user_id, device_id, key_id)? {
                Some(existing) if existing != key => {
                    return Err(Error::invalid_param(format!(
                        "One-time key {key_id} already exists with other content"
                    )));
                }
                Some(_) => {}
                None => new_keys.push((key_id.to_owned(), key)),
            }
        }
        // One upload at a time per server, so each gets its own places in the claim order.
        let _ordering = self.key_claims.lock();
        db.put_one_time_keys(&mut batch, user_id, device_id, &new_keys)?;
        for (key_id, key) in &upload.fallback_keys {
            let fallback = FallbackKey {
                key_id: key_id.to_string(),
                key: json_of(key)?,
                used: false,
            };
            db.put_fallback_key(
                &mut batch,
                user_id,
                device_id,
                algorithm_of(key_id.as_str())?,
                &fallback,
            );
        }
        db.write(batch)?;
        if keys_changed {
            db.record_local_device_change(&crate::sessions::device_change(user_id, vec![device_id.clone()]))?;
        }
        self.one_time_key_counts(user_id, device_id)
    }

    /// `device_lists` of `/sync` and `/keys/changes` for `(since, until]`: `changed` holds the
    /// users sharing a room with `user_id` whose devices changed, or who started sharing one
    /// (a join, theirs or ours); `left` those who no longer share any room with them.
    pub fn device_lists_for_sync(
        &self,
        user_id: &UserId,
        since: u64,
        until: u64,
    ) -> Result<(Vec<OwnedUserId>, Vec<OwnedUserId>)> {
        let lists = self.device_lists_between(user_id, &self.shared_users(user_id)?, since, until)?;
        Ok((lists.changed, lists.left))
    }

    /// [`Self::device_lists_for_sync`] with the users sharing a room with `user_id` (see
    /// `shared_users`) already known; also who started sharing a room with them.
    pub(crate) fn device_lists_between(
        &self,
        user_id: &UserId,
        shared: &BTreeSet<OwnedUserId>,
        since: u64,
        until: u64,
    ) -> Result<DeviceListChanges> {
        let db = self.db();
        let mut changed: BTreeSet<OwnedUserId> = db
            .device_list_changes(since, until)?
            .into_iter()
            .filter(|user| shared.contains(user))
            .collect();
        let mut left = BTreeSet::new();
        let mut newly_shared = BTreeSet::new();
        let in_window = |count: u64| count > since && count <= until;
        let rooms_changed: BTreeSet<_> = db.rooms_changed(since, until)?.into_iter().collect();
        for (room_id, record) in db.rooms_of_user(user_id)? {
            let we_changed = in_window(record.count);
            if !we_changed && !rooms_changed.contains(&room_id) {
                continue;
            }
            let we_are_in = record.membership == MembershipState::Join;
            if !we_are_in && !we_changed {
                continue;
            }
            // Joining a room lists the user's own devices as changed too (Synapse does, and
            // Complement's TestDeviceListsUpdateOverFederation expects it): their other
            // devices learn that new room-mates may now need their keys.
            if we_changed && we_are_in {
                changed.insert(user_id.to_owned());
            }
            for (member, membership) in db.members_of_room(&room_id)? {
                if member == user_id {
                    continue;
                }
                let joined = membership == MembershipState::Join;
                let they_changed = !we_changed
                    && db
                        .get_membership(&member, &room_id)?
                        .is_some_and(|theirs| in_window(theirs.count));
                if we_changed || they_changed {
                    if we_are_in && joined {
                        newly_shared.insert(member.clone());
                        changed.insert(member);
                    } else if !shared.contains(&member) {
                        left.insert(member);
                    }
                }
            }
        }
        Ok(DeviceListChanges {
            changed: changed.into_iter().collect(),
            left: left.into_iter().collect(),
            newly_shared,
        })
    }

    /// Unclaimed one-time keys of a device, per algorithm. `signed_curve25519` is always
    /// there, 0 when none is left: the spec lets a server omit a zero count, but Element's
    /// crypto tops up its keys only when it sees the count, so Synapse always sends it, and so
    /// do we.
    pub fn one_time_key_counts(&self, user_id: &UserId, device_id: &DeviceId) -> Result<KeyCounts> {
        let mut counts: BTreeMap<OneTimeKeyAlgorithm, u64> =
            BTreeMap::from([(OneTimeKeyAlgorithm::SignedCurve25519, 0)]);
        for key_id in self.db().one_time_key_ids(user_id, device_id)? {
            if let Ok(algorithm) = algorithm_of(&key_id) {
                *counts.entry(algorithm.into()).or_insert(0) += 1;
            }
        }
        Ok(counts
            .into_iter()
            .map(|(algorithm, count)| (algorithm, UInt::try_from(count).unwrap_or(UInt::MAX)))
            .collect())
    }

    /// Algorithms for which a device has a fallback key not handed out yet.
    pub fn unused_fallback_key_types(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
    ) -> Result<Vec<OneTimeKeyAlgorithm>> {
        Ok(self
            .db()
            .fallback_keys(user_id, device_id)?
            .into_iter()
            .filter(|(_, key)| !key.used)
            .map(|(algorithm, _)| algorithm.into())
            .collect())
    }

    /// Identity keys of local users' devices (all devices when the list is empty). Display
    /// names are included for local askers only (`with_names`): other servers don't get them.
    pub fn local_device_keys(
        &self,
        wanted: &BTreeMap<OwnedUserId, Vec<OwnedDeviceId>>,
        with_names: bool,
    ) -> Result<DeviceKeysByUser> {
        let db = self.db();
        let mut answer = DeviceKeysByUser::new();
        for (user_id, devices) in wanted {
            if user_id.server_name() != self.config.server_name {
                continue;
            }
            let mut by_device = BTreeMap::new();
            for (device_id, record) in db.devices(user_id)? {
                if !devices.is_empty() && !devices.contains(&device_id) {
                    continue;
                }
                let Some(mut keys) = db.get_device_keys(user_id, &device_id)? else {
                    continue;
                };
                if with_names && let Some(name) = &record.display_name {
                    keys["unsigned"] = json!({ "device_display_name": name });
                }
                by_device.insert(device_id, raw_json(&keys)?);
            }
            answer.insert(user_id.clone(), by_device);
        }
        Ok(answer)
    }

    /// Claims one key of `algorithm` per listed local device: a one-time key (deleted), or
    /// the fallback key (marked used) when none is left. Devices without keys are left out.
    pub fn claim_local_keys(
        &self,
        wanted: &BTreeMap<OwnedUserId, BTreeMap<OwnedDeviceId, OneTimeKeyAlgorithm>>,
    ) -> Result<ClaimedKeys> {
        let db = self.db();
        let mut answer = ClaimedKeys::new();
        // One claim at a time, so two claimers never get the same key.
        let _claiming = self.key_claims.lock();
        let mut batch = WriteBatch::new();
        for (user_id, devices) in wanted {
            if user_id.server_name() != self.config.server_name {
                continue;
            }
            let mut by_device = BTreeMap::new();
            for (device_id, algorithm) in devices {
                let algorithm = algorithm.as_str();
                let claimed = match db.first_one_time_key(user_id, device_id, algorithm)? {
                    Some(row) => {
                        db.delete_one_time_key(&mut batch, user_id, device_id, &row);
                        Some((row.key_id, row.key))
                    }
                    None => match db
                        .fallback_keys(user_id, device_id)?
                        .into_iter()
                        .find(|(alg, _)| alg == algorithm)
                    {
                        Some((alg, mut fallback)) => {
                            let claimed = (fallback.key_id.clone(), fallback.key.clone());
                            if !fallback.used {
                                fallback.used = true;
                                db.put_fallback_key(&mut batch, user_id, device_id, &alg, &fallback);
                            }
                            Some(claimed)
                        }
                        None => None,
                    },
                };
                if let Some((key_id, key)) = claimed {
                    let key_id = OneTimeKeyId::parse(&key_id)
                        .map_err(|err| Error::Internal(format!("stored key id {key_id} is invalid: {err}")))?;
                    by_device.insert(device_id.clone(), BTreeMap::from([(key_id, raw_json(&key)?)]));
                }
            }
            if !by_device.is_empty() {
                answer.insert(user_id.clone(), by_device);
            }
        }
        db.write(batch)?;
        Ok(answer)
    }
}
