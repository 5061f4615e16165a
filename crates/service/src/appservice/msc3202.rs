//! MSC3202 for bridges that encrypt (`org.matrix.msc3202: true`): the device lists that
//! changed among the users a service shares rooms with, and the one-time key counts and
//! unused fallback key types of its users' devices, in its transactions, as Synapse sends
//! them. `left` is never filled, as in Synapse: the service sees memberships itself.

use std::collections::{BTreeMap, BTreeSet};

use accord_core::appservice::Registration;
use ruma::{OneTimeKeyAlgorithm, OwnedDeviceId, OwnedUserId, UInt};

use super::interest::RoomInterest;
use crate::{Result, Services};

/// What MSC3202 adds to one transaction.
#[derive(Debug, Default)]
pub(super) struct DeviceInfo {
    /// Users whose device lists changed.
    pub changed: Vec<OwnedUserId>,
    /// One-time key counts per device of the service's users.
    pub otk_counts: BTreeMap<OwnedUserId, BTreeMap<OwnedDeviceId, BTreeMap<OneTimeKeyAlgorithm, UInt>>>,
    /// Unused fallback key types per device of the service's users.
    pub fallback_types: BTreeMap<OwnedUserId, BTreeMap<OwnedDeviceId, Vec<OneTimeKeyAlgorithm>>>,
}

impl Services {
    /// The device information of a transaction covering `(since, until]` whose events and
    /// messages name `users` (the service's users among them get their key counts).
    pub(super) fn appservice_device_info(
        &self,
        registration: &Registration,
        interest: &mut RoomInterest,
        users: &BTreeSet<OwnedUserId>,
        since: u64,
        until: u64,
    ) -> Result<DeviceInfo> {
        let db = self.db();
        let mut info = DeviceInfo::default();
        for user in db.device_list_changes(since, until)? {
            if interest.user(self, registration, &user)? {
                info.changed.push(user);
            }
        }
        let ours = users
            .iter()
            .filter(|user| user.server_name() == self.config.server_name && registration.may_act_as(user))
            .chain(std::iter::once(&registration.sender));
        for user in ours {
            for (device_id, _) in db.devices(user)? {
                let counts = self.one_time_key_counts(user, &device_id)?;
                info.otk_counts
                    .entry(user.clone())
                    .or_default()
                    .insert(device_id.clone(), counts);
                let unused = self.unused_fallback_key_types(user, &device_id)?;
                info.fallback_types
                    .entry(user.clone())
                    .or_default()
                    .insert(device_id, unused);
            }
        }
        Ok(info)
    }
}
