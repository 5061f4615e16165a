//! Pruning stored events: the event is rewritten to its redacted form, as the room version's
//! redaction algorithm keeps it, so its content leaves storage (erasure of a person's data,
//! retention). It stays the same event: its id (the reference hash is taken over the redacted
//! form) and its signatures still verify, so the room's history and other servers' copies
//! are untouched; only the content hash no longer matches, as for any redacted event.

use accord_db::{
    WriteBatch,
    rooms::{EventMeta, PurgedRoom, RoomGuard, ShortEventId},
};
use ruma::canonical_json::redact;

use crate::{Error, Result, Rooms, versions::rules_for};

/// Events rewritten per batch.
const BATCH: usize = 500;

impl Rooms {
    /// Prunes each stored event of `shorts` to its redacted form; returns how many were
    /// stored (unknown ids are skipped). Each batch is durable when it returns.
    pub fn prune_events(&self, shorts: &[ShortEventId]) -> Result<usize> {
        let mut pruned = 0;
        for chunk in shorts.chunks(BATCH) {
            let mut batch = WriteBatch::new();
            for short in chunk {
                let Some(json) = self.db.get_pdu_json(*short)? else {
                    continue;
                };
                let meta = self.db.event_meta(*short)?;
                let Some(room) = self.db.get_room_meta(&meta.room_id)? else {
                    continue;
                };
                let rules = rules_for(&room.version)?;
                let redacted = redact(json, &rules.redaction, None)
                    .map_err(|err| Error::Internal(format!("pruning {}: {err}", meta.event_id)))?;
                let bytes = serde_json::to_vec(&redacted).map_err(|err| Error::Internal(err.to_string()))?;
                self.db.replace_pdu_json(&mut batch, *short, bytes);
                pruned += 1;
            }
            self.db.write(batch)?;
            self.forget_cached_pdus(chunk);
        }
        Ok(pruned)
    }

    /// Removes the guarded room from storage (see `accord_db::rooms::PurgedRoom` for what
    /// goes and what stays; `events` are its stored events, `Db::events_of_room`) and drops
    /// their parsed copies. Blocking: run it off the async workers.
    pub fn purge_room(&self, guard: &RoomGuard, events: Vec<(ShortEventId, EventMeta)>) -> Result<PurgedRoom> {
        let purged = self.db.purge_room_rows(guard, events)?;
        let shorts: Vec<ShortEventId> = purged.events.iter().map(|(short, _)| *short).collect();
        self.forget_cached_pdus(&shorts);
        Ok(purged)
    }
}
