//! Removing every trace of a room from storage (the `purge` of Synapse's room deletion): its
//! events (timeline and outliers, with their ids, metadata, relations and thread rows), its
//! state snapshots, memberships, receipts, aliases, per-user rows about it (account data,
//! thread subscriptions, invites, notifications, transaction ids), its stream positions and
//! queued deliveries.
//!
//! Kept on purpose: the room's block (so it stays blocked), the audit log (append-only), event
//! reports (the moderators' record of why the room went), users' encrypted key backups (theirs,
//! and useless without the events) and media (they may be shared elsewhere). Interned state
//! keys are shared by every room and stay.
//!
//! A purge is many batches. The room's metadata and its purge mark (`purge_marks.rs`) go in the
//! last one, so a purge cut short by a crash leaves a room still marked, which the server
//! purges again at start; each pass reads what is left, so a second one finishes the job.

use std::collections::HashSet;

use accord_storage::{Direction, WriteBatch, codec::KeyBuilder};
use ruma::{OwnedEventId, RoomId};
use serde_json::Value;

use super::{EventMeta, RoomGuard, ShortEventId, ShortStateHash};
use crate::{Db, Result, database::decode, tables};

/// Rows deleted per batch.
const BATCH: usize = 1000;

/// What a purge removed.
#[derive(Debug, Clone, Default)]
pub struct PurgedRoom {
    /// The room's events, for the search index and caches.
    pub events: Vec<(ShortEventId, OwnedEventId)>,
    /// Rows deleted, every table counted.
    pub rows: usize,
}

impl Db {
    /// Every event stored for `room_id`, timeline and outliers: one pass over every event's
    /// metadata (there is no index of a room's outliers); progress is logged.
    pub fn events_of_room(&self, room_id: &RoomId) -> Result<Vec<(ShortEventId, EventMeta)>> {
        let mut found = Vec::new();
        let mut read = 0u64;
        for item in self
            .engine()
            .iter_from(tables::SHORTEVENTID_EVENTMETA, None, Direction::Forward)?
        {
            let (key, value) = item?;
            read += 1;
            if read.is_multiple_of(100_000) {
                tracing::info!(read, room = %room_id, "reading stored events for a room purge");
            }
            let meta: EventMeta = decode(tables::SHORTEVENTID_EVENTMETA, &value)?;
            if meta.room_id == room_id {
                let short = <[u8; 8]>::try_from(key.as_slice())
                    .map(u64::from_be_bytes)
                    .map_err(|_| crate::Error::Corrupt {
                        table: tables::SHORTEVENTID_EVENTMETA,
                        reason: "a short event id is not 8 bytes".to_owned(),
                    })?;
                found.push((ShortEventId(short), meta));
            }
        }
        Ok(found)
    }

    /// Deletes every row about the guarded room but those the module doc keeps; see there.
    /// `events` are the room's stored events ([`Db::events_of_room`], read by the caller so it
    /// can take them out of other stores first). The guard keeps the room's own writers out
    /// while it runs. Rows go in batches as they are found (memory holds one batch, not the
    /// room); an event's rows go in one batch with its metadata last, and the snapshots go
    /// before the events that lead to them, so a purge cut short finds what is left when run
    /// again.
    pub fn purge_room_rows(&self, guard: &RoomGuard, events: Vec<(ShortEventId, EventMeta)>) -> Result<PurgedRoom> {
        let room_id = guard.room_id();
        let event_ids: HashSet<&[u8]> = events.iter().map(|(_, meta)| meta.event_id.as_bytes()).collect();
        let room = room_id.as_bytes();
        let mut doomed = Doomed::new(self, room_id);

        // Rows naming the room's events go before the events: a purge run again after a crash
        // finds only the events still stored.
        self.delete_where(tables::DESTINATION_COUNT_EVENTID, &mut doomed, |_, value| {
            event_ids.contains(value)
        })?;

        for hash in self.snapshots_of(room_id, &events)? {
            doomed.delete(tables::SHORTSTATEHASH_SNAPSHOT, hash.0.to_be_bytes().to_vec());
            doomed.flush_if_full()?;
        }
        for (short, meta) in &events {
            let short_key = short.0.to_be_bytes().to_vec();
            doomed.delete(tables::SHORTEVENTID_PDU, short_key.clone());
            doomed.delete(tables::EVENTID_SHORTEVENTID, meta.event_id.as_bytes().to_vec());
            doomed.delete(tables::THREADROOT_LATEST, meta.event_id.as_bytes().to_vec());
            doomed.delete(tables::SHORTEVENTID_EVENTMETA, short_key);
            doomed.flush_if_full()?;
        }

        // Tables keyed by the room first.
        let prefix = KeyBuilder::new().str(room_id.as_str()).prefix();
        for table in tables::ALL {
            let by_room = table.name.starts_with("roomid_") || table.name == tables::PARENT_COUNT_CHILD;
            let kept_to_the_end = [tables::ROOMID_BLOCK, tables::ROOMID_ROOMMETA, tables::ROOMID_PURGE];
            if !by_room || kept_to_the_end.contains(&table.name) {
                continue;
            }
            for key in self.scan_keys(table.name, &prefix)? {
                doomed.delete(table.name, key);
                doomed.flush_if_full()?;
            }
            if self.get_raw(table.name, room)?.is_some() {
                doomed.delete(table.name, room.to_vec());
            }
        }
        // Tables keyed by a user, then the room.
        for table in tables::ALL {
            if table.name.starts_with("userid_roomid_") {
                self.delete_where(table.name, &mut doomed, |key, _| second_part(key) == Some(room))?;
            }
        }
        // Tables naming the room, or one of its events, in the value.
        for table in [
            tables::COUNT_ROOMID,
            tables::BACKFILLCOUNT_ROOMID,
            tables::USERID_NOTICEROOM,
        ] {
            self.delete_where(table, &mut doomed, |_, value| value == room)?;
        }
        self.delete_where(tables::USERID_COUNT_ACCOUNTDATAKEY, &mut doomed, |_, value| {
            value.starts_with(&prefix)
        })?;
        // By the endpoint in the key (`{room_id}/send/...`), not the event in the value: a
        // purge run again after a crash no longer knows the events the first run deleted.
        self.delete_where(tables::USERID_DEVICEID_TXNID_EVENTID, &mut doomed, |key, _| {
            third_part(key)
                .is_some_and(|endpoint| endpoint.strip_prefix(room).is_some_and(|rest| rest.starts_with(b"/")))
        })?;
        for table in [
            tables::USERID_COUNT_NOTIFICATION,
            tables::DELAYID_DELAYEDEVENT,
            tables::ALIAS_ALIASRECORD,
        ] {
            self.delete_where(table, &mut doomed, |_, value| {
                serde_json::from_slice::<Value>(value)
                    .is_ok_and(|record| record["room_id"].as_str() == Some(room_id.as_str()))
            })?;
        }
        // Last, so an interrupted purge can be run again.
        doomed.delete(tables::ROOMID_ROOMMETA, room.to_vec());
        doomed.delete(tables::ROOMID_PURGE, room.to_vec());
        let rows = doomed.finish()?;
        self.forget_extremities(room_id);
        tracing::info!(room = %room_id, events = events.len(), rows, "room purged from storage");
        Ok(PurgedRoom {
            events: events.into_iter().map(|(short, meta)| (short, meta.event_id)).collect(),
            rows,
        })
    }

    /// The room's state snapshots: those after each of its events and its current one, with
    /// the layers they are diffs against (always the same room's: ids are never shared).
    fn snapshots_of(&self, room_id: &RoomId, events: &[(ShortEventId, EventMeta)]) -> Result<HashSet<ShortStateHash>> {
        let mut pending: Vec<ShortStateHash> = events.iter().filter_map(|(_, meta)| meta.state_after()).collect();
        if let Some(meta) = self.get_room_meta(room_id)? {
            pending.push(ShortStateHash(meta.current_state));
        }
        let mut found = HashSet::new();
        while let Some(hash) = pending.pop() {
            if !found.insert(hash) {
                continue;
            }
            if self
                .get_raw(tables::SHORTSTATEHASH_SNAPSHOT, &hash.0.to_be_bytes())?
                .is_none()
            {
                continue;
            }
            if let Some(parent) = self.snapshot(hash)?.parent {
                pending.push(parent);
            }
        }
        Ok(found)
    }

    /// Deletes the rows of `table` that `matches`, reading the table once (its iterator reads
    /// a snapshot, so deleting as it goes is safe).
    fn delete_where(
        &self,
        table: &'static str,
        doomed: &mut Doomed<'_>,
        matches: impl Fn(&[u8], &[u8]) -> bool,
    ) -> Result<()> {
        for item in self.engine().iter_from(table, None, Direction::Forward)? {
            let (key, value) = item?;
            if matches(&key, &value) {
                doomed.delete(table, key);
                doomed.flush_if_full()?;
            }
        }
        Ok(())
    }
}

/// Rows between two progress lines in the log.
const PROGRESS_EVERY: usize = 10_000;

/// Deletions written in batches of [`BATCH`] as they are queued, with progress logged.
struct Doomed<'a> {
    db: &'a Db,
    room_id: &'a RoomId,
    batch: WriteBatch,
    queued: usize,
    written: usize,
}

impl<'a> Doomed<'a> {
    fn new(db: &'a Db, room_id: &'a RoomId) -> Self {
        Self {
            db,
            room_id,
            batch: WriteBatch::new(),
            queued: 0,
            written: 0,
        }
    }

    fn delete(&mut self, table: &'static str, key: Vec<u8>) {
        self.batch.delete(table, key);
        self.queued += 1;
    }

    /// Writes the queued deletions once a batch is full; call it between groups of rows that
    /// must go together.
    fn flush_if_full(&mut self) -> Result<()> {
        if self.queued >= BATCH {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.queued > 0 {
            self.db.write(std::mem::take(&mut self.batch))?;
            let before = self.written;
            self.written += self.queued;
            self.queued = 0;
            if self.written / PROGRESS_EVERY > before / PROGRESS_EVERY {
                tracing::info!(room = %self.room_id, rows = self.written, "room purge: rows deleted so far");
            }
        }
        Ok(())
    }

    /// Writes what is left; how many rows went in all.
    fn finish(mut self) -> Result<usize> {
        self.flush()?;
        Ok(self.written)
    }
}

/// The second string part of a key (`user_id 0xFF room_id ...`): ids never contain the
/// separator, so the first two parts split cleanly whatever follows.
fn second_part(key: &[u8]) -> Option<&[u8]> {
    key.split(|byte| *byte == accord_storage::codec::SEP).nth(1)
}

/// The third part of a composite key.
fn third_part(key: &[u8]) -> Option<&[u8]> {
    key.split(|byte| *byte == accord_storage::codec::SEP).nth(2)
}
