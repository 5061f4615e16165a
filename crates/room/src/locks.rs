//! One writer per room: an async mutex per room id, handed out as a [`RoomGuard`] proof that
//! every write method requires.

use std::{collections::HashMap, sync::Arc};

use parking_lot::Mutex;
use ruma::{OwnedRoomId, RoomId};
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

/// The per-room locks. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct RoomLocks {
    locks: Arc<Mutex<HashMap<OwnedRoomId, Arc<AsyncMutex<()>>>>>,
}

/// Proof of holding a room's lock; writes take `guard: &RoomGuard`.
#[derive(Debug)]
pub struct RoomGuard {
    room_id: OwnedRoomId,
    _guard: OwnedMutexGuard<()>,
}

impl RoomGuard {
    /// The locked room.
    pub fn room_id(&self) -> &RoomId {
        &self.room_id
    }
}

impl RoomLocks {
    /// Waits for `room_id`'s lock.
    pub async fn lock(&self, room_id: &RoomId) -> RoomGuard {
        let mutex = self.locks.lock().entry(room_id.to_owned()).or_default().clone();
        RoomGuard {
            room_id: room_id.to_owned(),
            _guard: mutex.lock_owned().await,
        }
    }
}
