//! State snapshots stored as diffs against a parent snapshot, so a room with many state events
//! does not store a full copy of its state per event.
//!
//! Diffs are layered like a binary counter: a new diff is merged into its parent's while it is
//! at least as large as the parent's diff. Chains stay O(log n) long and every entry is
//! rewritten O(log n) times, so n state events cost O(n log n) entries, not O(n^2).

use std::collections::HashMap;

use super::{RoomBatch, ShortEventId, ShortStateHash, ShortStateKey, short::decode_u64};
use crate::{Db, Error, Result, tables::SHORTSTATEHASH_SNAPSHOT};

/// Full room state: short state key -> short event id.
pub type StateMap = HashMap<ShortStateKey, ShortEventId>;

/// One stored layer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StateSnapshot {
    /// The snapshot this one is a diff against (`None`: this layer is the full state).
    pub parent: Option<ShortStateHash>,
    /// Entries added or replaced relative to the parent.
    pub added: Vec<(ShortStateKey, ShortEventId)>,
    /// Keys removed relative to the parent.
    pub removed: Vec<ShortStateKey>,
}

impl StateSnapshot {
    /// Binary layout: parent (u64, 0 = none), count added, (key, event)*, count removed, key*;
    /// all u64 big-endian.
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 * (3 + 2 * self.added.len() + self.removed.len()));
        out.extend(self.parent.map_or(0, |p| p.0).to_be_bytes());
        out.extend((self.added.len() as u64).to_be_bytes());
        for (key, event) in &self.added {
            out.extend(key.0.to_be_bytes());
            out.extend(event.0.to_be_bytes());
        }
        out.extend((self.removed.len() as u64).to_be_bytes());
        for key in &self.removed {
            out.extend(key.0.to_be_bytes());
        }
        out
    }

    fn decode(bytes: &[u8]) -> Result<Self> {
        let mut words = bytes.chunks_exact(8).map(|w| decode_u64(SHORTSTATEHASH_SNAPSHOT, w));
        let corrupt = || Error::Corrupt {
            table: SHORTSTATEHASH_SNAPSHOT,
            reason: "truncated snapshot".to_owned(),
        };
        let mut next = || words.next().ok_or_else(corrupt)?;
        let parent = next()?;
        let added_len = next()?;
        let mut added = Vec::new();
        for _ in 0..added_len {
            added.push((ShortStateKey(next()?), ShortEventId(next()?)));
        }
        let removed_len = next()?;
        let mut removed = Vec::new();
        for _ in 0..removed_len {
            removed.push(ShortStateKey(next()?));
        }
        Ok(Self {
            parent: (parent != 0).then_some(ShortStateHash(parent)),
            added,
            removed,
        })
    }

    fn len(&self) -> usize {
        self.added.len() + self.removed.len()
    }
}

impl Db {
    /// One stored layer.
    pub fn snapshot(&self, hash: ShortStateHash) -> Result<StateSnapshot> {
        let bytes = self
            .get_raw(SHORTSTATEHASH_SNAPSHOT, &hash.0.to_be_bytes())?
            .ok_or(Error::NotFound("state snapshot"))?;
        StateSnapshot::decode(&bytes)
    }

    /// The full state of a snapshot, applying its layers from the root up.
    pub fn state_map(&self, hash: ShortStateHash) -> Result<StateMap> {
        let mut layers = Vec::new();
        let mut next = Some(hash);
        while let Some(hash) = next {
            let layer = self.snapshot(hash)?;
            next = layer.parent;
            layers.push(layer);
        }
        let mut state = StateMap::new();
        for layer in layers.into_iter().rev() {
            for key in layer.removed {
                state.remove(&key);
            }
            state.extend(layer.added);
        }
        Ok(state)
    }

    /// Queues a new snapshot equal to `parent` plus `added` minus `removed`, merging layers as
    /// the module doc describes. `parent` may be queued in the same batch. Returns its id.
    pub fn put_state_diff(
        &self,
        batch: &mut RoomBatch<'_>,
        parent: Option<ShortStateHash>,
        added: Vec<(ShortStateKey, ShortEventId)>,
        removed: Vec<ShortStateKey>,
    ) -> Result<ShortStateHash> {
        let mut diff = StateSnapshot { parent, added, removed };
        while let Some(parent_hash) = diff.parent {
            let parent_layer = match batch.queued_snapshot(parent_hash) {
                Some(layer) => layer.clone(),
                None => self.snapshot(parent_hash)?,
            };
            if diff.len() < parent_layer.len() {
                break;
            }
            diff = merge(parent_layer, diff);
        }
        let hash = ShortStateHash(self.next_short_id());
        batch
            .rows()
            .put(SHORTSTATEHASH_SNAPSHOT, hash.0.to_be_bytes(), diff.encode());
        batch.note_snapshot(hash, diff);
        Ok(hash)
    }
}

/// `upper` applied on top of `lower`, as one layer over `lower`'s parent.
fn merge(lower: StateSnapshot, upper: StateSnapshot) -> StateSnapshot {
    let mut added: HashMap<ShortStateKey, ShortEventId> = lower.added.into_iter().collect();
    let mut removed: std::collections::HashSet<ShortStateKey> = lower.removed.into_iter().collect();
    for key in upper.removed {
        added.remove(&key);
        if lower.parent.is_some() {
            removed.insert(key);
        }
    }
    for (key, event) in upper.added {
        removed.remove(&key);
        added.insert(key, event);
    }
    let mut added: Vec<_> = added.into_iter().collect();
    added.sort_unstable();
    let mut removed: Vec<_> = removed.into_iter().collect();
    removed.sort_unstable();
    StateSnapshot {
        parent: lower.parent,
        added,
        removed,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::Arc;

    use accord_storage_rocksdb::RocksEngine;

    use super::*;
    use crate::{rooms::RoomGuard, tables};

    /// The lock of a test room: writes to snapshots need one.
    fn room_guard(db: &Db) -> RoomGuard {
        let room = ruma::room_id!("!snapshots:test.local");
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(db.lock_room(room))
    }

    #[test]
    fn layers_stay_logarithmic_and_reads_match_a_plain_map() {
        let dir = tempfile::tempdir().unwrap();
        let engine = RocksEngine::open(dir.path(), tables::ALL, tables::DROPPED).unwrap();
        let db = Db::open(Arc::new(engine)).unwrap();
        let mut expected = StateMap::new();
        let mut current = None;
        let mut total_entries = 0usize;
        let guard = room_guard(&db);
        for i in 0..2000u64 {
            // Mostly new keys (members joining), sometimes a replaced one (power levels).
            let key = if i % 10 == 0 {
                ShortStateKey(1)
            } else {
                ShortStateKey(10 + i)
            };
            let event = ShortEventId(100_000 + i);
            expected.insert(key, event);
            let mut batch = guard.batch();
            current = Some(
                db.put_state_diff(&mut batch, current, vec![(key, event)], vec![])
                    .unwrap(),
            );
            db.write_room(batch).unwrap();
            let mut depth = 0;
            let mut next = current;
            while let Some(hash) = next {
                let layer = db.snapshot(hash).unwrap();
                if depth == 0 {
                    total_entries += layer.len();
                }
                depth += 1;
                next = layer.parent;
            }
            assert!(depth <= 13, "chain depth {depth} after {i} events");
        }
        assert_eq!(db.state_map(current.unwrap()).unwrap(), expected);
        // O(n log n): far below the n^2/2 = 2,000,000 of full copies.
        assert!(total_entries < 2000 * 13, "{total_entries} entries stored");
    }

    #[test]
    fn removals_apply_through_merges() {
        let dir = tempfile::tempdir().unwrap();
        let engine = RocksEngine::open(dir.path(), tables::ALL, tables::DROPPED).unwrap();
        let db = Db::open(Arc::new(engine)).unwrap();
        let guard = room_guard(&db);
        let mut batch = guard.batch();
        let root = db
            .put_state_diff(
                &mut batch,
                None,
                vec![(ShortStateKey(1), ShortEventId(1)), (ShortStateKey(2), ShortEventId(2))],
                vec![],
            )
            .unwrap();
        db.write_room(batch).unwrap();
        let mut batch = guard.batch();
        let next = db
            .put_state_diff(&mut batch, Some(root), vec![], vec![ShortStateKey(1)])
            .unwrap();
        // Built on `next` while it is only queued in the same batch (a resolved state before
        // an event, then the event's own state after it).
        let last = db
            .put_state_diff(
                &mut batch,
                Some(next),
                vec![(ShortStateKey(3), ShortEventId(3))],
                vec![],
            )
            .unwrap();
        db.write_room(batch).unwrap();
        let state = db.state_map(last).unwrap();
        assert_eq!(state.len(), 2);
        assert_eq!(state.get(&ShortStateKey(2)), Some(&ShortEventId(2)));
        assert_eq!(state.get(&ShortStateKey(3)), Some(&ShortEventId(3)));
    }
}
