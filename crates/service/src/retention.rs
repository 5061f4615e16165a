//! Message retention (`[retention]`, `m.room.retention`): a job prunes the content of every
//! message older than its room's lifetime, deletes the local media those messages carried,
//! removes their words from the search index, and compacts storage so the bytes leave the
//! disk. State events and the room's newest event stay (the room keeps working, and its
//! forward extremities stay whole); pruned events stay in the room's history as redacted
//! events, so the DAG and other servers' copies are untouched.
//!
//! Each room is walked in timeline order from where the last run stopped (a cursor written
//! after every batch), so a run that was stopped or crashed resumes; a batch pruned again
//! after a crash changes nothing. The walk stops at the first message not yet expired.

use accord_db::{Direction, rooms::ShortEventId};
use ruma::{OwnedEventId, RoomId, events::StateEventType};
use serde::Serialize;
use serde_json::Value;

use crate::{Error, Result, Services, audit::AuditEvent};

/// Timeline entries read per batch.
const BATCH: usize = 500;

/// What a run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RetentionRun {
    /// Rooms with a lifetime.
    pub rooms: usize,
    /// Events pruned.
    pub events_pruned: usize,
    /// Local uploads deleted with them.
    pub media_deleted: usize,
    /// Whether the run stopped at its budget before the end (it resumes next time).
    pub stopped_early: bool,
}

/// The `mxc://` URIs an event's content points at: `url`, `info.thumbnail_url` and the
/// encrypted `file.url` forms.
fn media_of(content: &Value) -> Vec<String> {
    let mut found = Vec::new();
    for pointer in ["/url", "/info/thumbnail_url", "/file/url", "/info/thumbnail_file/url"] {
        if let Some(uri) = content.pointer(pointer).and_then(Value::as_str) {
            found.push(uri.to_owned());
        }
    }
    found
}

impl Services {
    /// The lifetime of `room_id`'s messages, ms, or nothing when they are kept forever.
    fn room_lifetime(&self, room_id: &RoomId) -> Result<Option<u64>> {
        let rooms = self.rooms.rooms();
        let state = rooms.current_state(room_id)?;
        let requested = rooms
            .state_event(&state, &StateEventType::from("m.room.retention"), "")?
            .and_then(|pdu| pdu.content_value().get("max_lifetime").and_then(Value::as_u64));
        Ok(self.config.retention.effective_lifetime(requested))
    }

    /// One run over every room; at most `budget` events pruned when given (the rest waits
    /// for the next run).
    pub async fn run_retention(&self, budget: Option<usize>) -> Result<RetentionRun> {
        let mut run = RetentionRun::default();
        let now = accord_core::time::now_millis();
        for room_id in self.db().room_ids()? {
            let Some(lifetime) = self.room_lifetime(&room_id)? else {
                continue;
            };
            run.rooms += 1;
            let cutoff = now.saturating_sub(lifetime);
            let before = (run.events_pruned, run.media_deleted);
            let finished = self.prune_room(&room_id, cutoff, budget, &mut run).await?;
            let (events, media) = (run.events_pruned - before.0, run.media_deleted - before.1);
            if events > 0 {
                self.audit.record(
                    AuditEvent::new(crate::audit::kinds::RETENTION_PURGED)
                        .target(&room_id)
                        .detail("events_pruned", events)
                        .detail("media_deleted", media)
                        .detail("lifetime_ms", lifetime),
                );
                tracing::info!(room = %room_id, events, media, "retention: expired messages pruned");
            }
            if !finished {
                run.stopped_early = true;
                break;
            }
        }
        if run.events_pruned > 0 {
            // Each batch left the search index as it was pruned; what is left is merging the
            // index's segments and compacting, so the bytes leave the files.
            self.forget_and_compact(Vec::new()).await?;
        }
        Ok(run)
    }

    /// After events were pruned: their words leave the search index and the bytes of what
    /// was rewritten leave the database files (retention, purges, erasure).
    pub(crate) async fn forget_and_compact(&self, event_ids: Vec<OwnedEventId>) -> Result<()> {
        let search = self.search.clone();
        let db = self.db().clone();
        tokio::task::spawn_blocking(move || -> Result<()> {
            search.forget(&event_ids)?;
            Ok(db.compact()?)
        })
        .await
        .map_err(|err| Error::Internal(format!("cleaning up after pruning failed: {err}")))?
    }

    /// Prunes `room_id`'s events older than `cutoff`; whether the room is done (not stopped at
    /// the budget).
    async fn prune_room(
        &self,
        room_id: &RoomId,
        cutoff: u64,
        budget: Option<usize>,
        run: &mut RetentionRun,
    ) -> Result<bool> {
        let db = self.db();
        let rooms = self.rooms.rooms();
        let newest = db
            .timeline(room_id, u64::MAX, None, Direction::Backward, 1)?
            .first()
            .map(|(count, _)| *count);
        let mut cursor = db.retention_cursor(room_id)?;
        loop {
            let entries = db.timeline(room_id, cursor, None, Direction::Forward, BATCH)?;
            if entries.is_empty() {
                return Ok(true);
            }
            let mut shorts: Vec<ShortEventId> = Vec::new();
            let mut reached_unexpired = false;
            let mut last = cursor;
            for (count, short) in &entries {
                if budget.is_some_and(|budget| run.events_pruned + shorts.len() >= budget) {
                    self.prune_batch(&shorts, run).await?;
                    db.put_retention_cursor(room_id, last)?;
                    log_progress(room_id, shorts.len(), run);
                    return Ok(false);
                }
                if Some(*count) == newest {
                    reached_unexpired = true;
                    break;
                }
                let Some(pdu) = rooms.pdu(*short)? else {
                    last = *count;
                    continue;
                };
                // State stays whatever its age, and its time doesn't stop the walk.
                if pdu.state_key.is_none() {
                    if u64::from(pdu.origin_server_ts.get()) >= cutoff {
                        reached_unexpired = true;
                        break;
                    }
                    shorts.push(*short);
                }
                last = *count;
            }
            self.prune_batch(&shorts, run).await?;
            db.put_retention_cursor(room_id, last)?;
            log_progress(room_id, shorts.len(), run);
            cursor = last;
            if reached_unexpired {
                return Ok(true);
            }
        }
    }

    /// Deletes the local media of `shorts`, prunes them and takes them out of the search
    /// index, all before the caller moves the room's cursor past them: a crash after the
    /// cursor moved must find nothing of the batch left (the next run never comes back to it).
    async fn prune_batch(&self, shorts: &[ShortEventId], run: &mut RetentionRun) -> Result<()> {
        let mut forgotten: Vec<OwnedEventId> = Vec::new();
        let rooms = self.rooms.rooms();
        let ours = format!("mxc://{}/", self.config.server_name);
        for short in shorts {
            let Some(pdu) = rooms.pdu(*short)? else {
                continue;
            };
            for uri in media_of(&pdu.content_value()) {
                if let Some(media_id) = uri.strip_prefix(&ours)
                    && self.media.delete_media(&self.config.server_name, media_id).await?
                {
                    run.media_deleted += 1;
                }
            }
            forgotten.push(pdu.event_id);
        }
        run.events_pruned += rooms.prune_events(shorts)?;
        let search = self.search.clone();
        tokio::task::spawn_blocking(move || search.remove(&forgotten))
            .await
            .map_err(|err| Error::Internal(format!("retention's search removal stopped: {err}")))??;
        Ok(())
    }
}

/// Logs a batch once it is durable (pruned, out of the search index, and past the cursor).
fn log_progress(room_id: &RoomId, pruned: usize, run: &RetentionRun) {
    tracing::info!(room = %room_id, pruned, total = run.events_pruned, "retention batch pruned");
}

/// Runs the retention job every `retention.purge_interval_secs` until shutdown, when
/// `retention.enabled`.
pub async fn run_retention_job(services: Services, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    if !services.config.retention.enabled {
        return;
    }
    let every = std::time::Duration::from_secs(services.config.retention.purge_interval_secs.max(1));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        match services.run_retention(None).await {
            Ok(run) if run.events_pruned > 0 => tracing::info!(?run, "retention run finished"),
            Ok(_) => {}
            Err(err) => tracing::error!(%err, "retention run failed; it runs again later"),
        }
    }
}
