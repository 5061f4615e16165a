//! One writer per room, enforced by types: the writers of a room's tables (events and their
//! meta, timeline, extremities, memberships, state snapshots, transaction ids, outbound queue
//! rows) only accept a [`RoomBatch`], and a `RoomBatch` is only made from the room's
//! [`RoomGuard`], which only [`RoomLocks::lock`] hands out. The batch borrows the guard, so the
//! lock is held until the batch is committed or dropped.

use std::{collections::HashMap, sync::Arc};

use accord_storage::WriteBatch;
use parking_lot::Mutex;
use ruma::{OwnedEventId, OwnedRoomId, RoomId};
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

use super::{ShortStateHash, StateSnapshot};

/// The per-room locks of one database. Cheap to clone; every clone of a [`crate::Db`] shares
/// them, so two services over the same database can't both write a room.
#[derive(Clone, Debug, Default)]
pub(crate) struct RoomLocks {
    locks: Arc<Mutex<HashMap<OwnedRoomId, Arc<AsyncMutex<()>>>>>,
}

/// Proof of holding a room's lock. Not constructible outside this module.
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

    /// An empty batch of writes to this room's tables.
    pub fn batch(&self) -> RoomBatch<'_> {
        RoomBatch {
            guard: self,
            batch: WriteBatch::new(),
            snapshots: HashMap::new(),
            extremities: None,
        }
    }
}

/// A write batch of one room, made under its lock. Commit it with [`crate::Db::write_room`] or
/// [`crate::Db::write_room_deferred`].
#[derive(Debug)]
pub struct RoomBatch<'g> {
    guard: &'g RoomGuard,
    batch: WriteBatch,
    /// State snapshots queued in this batch, so a later diff in the same batch can build on
    /// one (the resolved state before an event, then the state after it).
    snapshots: HashMap<ShortStateHash, StateSnapshot>,
    /// The room's forward extremities once this batch commits, if it changes them (the
    /// database's cache of them is updated from it on commit).
    extremities: Option<Vec<OwnedEventId>>,
}

impl RoomBatch<'_> {
    /// The room whose lock this batch holds.
    pub fn room_id(&self) -> &RoomId {
        self.guard.room_id()
    }

    /// The underlying batch: the room-table writers in this crate fill it, and callers
    /// outside add rows of other tables that must commit atomically with it (a remote
    /// invite's stripped state, a user's stream mark).
    pub fn rows(&mut self) -> &mut WriteBatch {
        &mut self.batch
    }

    pub(crate) fn queued_snapshot(&self, hash: ShortStateHash) -> Option<&StateSnapshot> {
        self.snapshots.get(&hash)
    }

    pub(crate) fn note_snapshot(&mut self, hash: ShortStateHash, layer: StateSnapshot) {
        self.snapshots.insert(hash, layer);
    }

    pub(crate) fn queued_extremities(&self) -> Option<&Vec<OwnedEventId>> {
        self.extremities.as_ref()
    }

    pub(crate) fn note_extremities(&mut self, extremities: Vec<OwnedEventId>) {
        self.extremities = Some(extremities);
    }

    /// The rows to write, and the extremities they leave the room with (if they change them).
    pub(crate) fn into_parts(self) -> (WriteBatch, Option<(OwnedRoomId, Vec<OwnedEventId>)>) {
        let room_id = self.guard.room_id().to_owned();
        (self.batch, self.extremities.map(|list| (room_id, list)))
    }
}

impl RoomLocks {
    /// Waits for `room_id`'s lock.
    pub(crate) async fn lock(&self, room_id: &RoomId) -> RoomGuard {
        let mutex = self.locks.lock().entry(room_id.to_owned()).or_default().clone();
        RoomGuard {
            room_id: room_id.to_owned(),
            _guard: mutex.lock_owned().await,
        }
    }
}
