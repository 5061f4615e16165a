//! Which member events each device has been sent, so lazy-loading syncs leave out the
//! "redundant" ones (spec: "Lazy-loading room members": a server may skip member events the
//! client already has, unless the filter sets `include_redundant_members`).
//!
//! Kept in memory per (user, device): after a restart the first syncs send members again,
//! which the spec allows. An entry counts only once the client has shown it got the response
//! that carried it, by syncing from that response's `next_batch` or later; a response lost on
//! the way (a timeout, a dropped connection) is answered again in full.

use std::collections::HashMap;

use parking_lot::Mutex;
use ruma::{DeviceId, EventId, OwnedDeviceId, OwnedEventId, OwnedRoomId, OwnedUserId, RoomId, UserId};

/// Most member events remembered per device; past it the device starts over (and gets some
/// members again, which is harmless).
const MAX_PER_DEVICE: usize = 50_000;

/// Most devices remembered; past it every device starts over.
const MAX_DEVICES: usize = 100_000;

/// A member event sent to a device, and in which response.
#[derive(Debug)]
struct Sent {
    event_id: OwnedEventId,
    /// The `next_batch` of the response that carried it.
    in_batch: u64,
}

/// The member events one device was sent, by room and member.
type SentToDevice = HashMap<(OwnedRoomId, OwnedUserId), Sent>;

/// Member events sent to each device.
#[derive(Debug, Default)]
pub(crate) struct LazyMembers {
    devices: Mutex<HashMap<(OwnedUserId, OwnedDeviceId), SentToDevice>>,
}

impl LazyMembers {
    /// Forgets what a device was sent: an initial sync starts it from nothing.
    pub(crate) fn reset(&self, user_id: &UserId, device_id: &DeviceId) {
        self.devices.lock().remove(&(user_id.to_owned(), device_id.to_owned()));
    }

    /// Whether the device already has `member`'s event `event_id` in `room_id`: it was sent in
    /// a response the device synced past (`since` at or after its `next_batch`).
    pub(crate) fn delivered(
        &self,
        (user_id, device_id): (&UserId, &DeviceId),
        room_id: &RoomId,
        member: &UserId,
        event_id: &EventId,
        since: u64,
    ) -> bool {
        let devices = self.devices.lock();
        devices
            .get(&(user_id.to_owned(), device_id.to_owned()))
            .and_then(|sent| sent.get(&(room_id.to_owned(), member.to_owned())))
            .is_some_and(|sent| sent.event_id == event_id && sent.in_batch <= since)
    }

    /// Records that the response ending at `until` carries `member`'s event `event_id`.
    pub(crate) fn record(
        &self,
        (user_id, device_id): (&UserId, &DeviceId),
        room_id: &RoomId,
        member: &UserId,
        event_id: &EventId,
        until: u64,
    ) {
        let mut devices = self.devices.lock();
        if devices.len() >= MAX_DEVICES {
            devices.clear();
        }
        let sent = devices.entry((user_id.to_owned(), device_id.to_owned())).or_default();
        if sent.len() >= MAX_PER_DEVICE {
            sent.clear();
        }
        let entry = sent
            .entry((room_id.to_owned(), member.to_owned()))
            .or_insert_with(|| Sent {
                event_id: event_id.to_owned(),
                in_batch: until,
            });
        // A different event replaces the entry; the same one keeps the earliest response
        // that carried it (delivered once the client synced past it).
        if entry.event_id != event_id {
            *entry = Sent {
                event_id: event_id.to_owned(),
                in_batch: until,
            };
        }
    }
}
