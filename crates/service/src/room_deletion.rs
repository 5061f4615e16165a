//! Deleting a room as an admin (Synapse's `DELETE /_synapse/admin/v1/rooms/{roomId}` and its
//! asynchronous v2): the room is shut down for this server (every local member leaves, local
//! aliases go, optionally blocked: `rooms/admin_actions.rs`), then, with `purge` (the default,
//! as on Synapse), removed from storage: events, state, memberships, receipts and every row
//! about it (`accord_db::rooms::PurgedRoom` says what stays), its messages out of the search
//! index, and the database compacted so the bytes leave the files.
//!
//! The v2 form runs in the background and is followed through its delete id; statuses are kept
//! in memory for a day after they finish (a restart forgets them, as Synapse's do).

use std::{collections::HashMap, sync::Arc};

use accord_core::time::now_millis;
use accord_db::{
    AuditEvent,
    rooms::{PurgedRoom, RoomGuard, RoomPurgeMark},
};
use parking_lot::Mutex;
use ruma::{OwnedEventId, OwnedRoomId, OwnedUserId, RoomId, UserId};
use serde::Serialize;
use serde_json::{Value, json};

use crate::{Error, Result, Services, audit::kinds, rooms::ShutdownReport, tokens::random_alphanumeric};

/// How long a purge waits for the shutdown's leaves to reach the room's other servers.
const OUTBOUND_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// How long a finished deletion's status stays, ms.
const STATUS_KEPT_MS: u64 = 24 * 60 * 60 * 1000;

/// What the admin asked for, beyond the shutdown.
#[derive(Debug, Clone, Copy)]
pub struct DeleteOptions {
    /// Keep local users from joining again.
    pub block: bool,
    /// Remove the room from storage after the shutdown.
    pub purge: bool,
    /// Purge even if local users are still joined (their leave failed).
    pub force_purge: bool,
}

/// One v2 deletion, in Synapse's shape.
#[derive(Debug, Clone, Serialize)]
pub struct DeleteTask {
    /// The id the v2 request answered.
    pub delete_id: String,
    /// The room being deleted.
    pub room_id: OwnedRoomId,
    /// `active`, `complete` or `failed` (`scheduled` is never seen: the task starts at once).
    pub status: &'static str,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What the shutdown did, once done.
    pub shutdown_room: Value,
    #[serde(skip)]
    finished_at: Option<u64>,
}

/// The v2 deletions started since the process began (finished ones for a day).
#[derive(Debug, Clone, Default)]
pub struct DeleteTasks(Arc<Mutex<HashMap<String, DeleteTask>>>);

impl DeleteTasks {
    /// The deletion `delete_id`.
    pub fn get(&self, delete_id: &str) -> Option<DeleteTask> {
        self.0.lock().get(delete_id).cloned()
    }

    /// The deletions of `room_id`, running or finished within the day, oldest first.
    pub fn of_room(&self, room_id: &RoomId) -> Vec<DeleteTask> {
        let mut tasks: Vec<DeleteTask> = self
            .0
            .lock()
            .values()
            .filter(|task| task.room_id == room_id)
            .cloned()
            .collect();
        tasks.sort_by_key(|task| task.finished_at.unwrap_or(u64::MAX));
        tasks
    }

    fn update(&self, delete_id: &str, change: impl FnOnce(&mut DeleteTask)) {
        if let Some(task) = self.0.lock().get_mut(delete_id) {
            change(task);
        }
    }

    /// Registers a new task for `room_id`, unless one is still running for it.
    fn begin(&self, room_id: &RoomId) -> Result<String> {
        let now = now_millis();
        let mut tasks = self.0.lock();
        tasks.retain(|_, task| {
            task.finished_at
                .is_none_or(|at| now.saturating_sub(at) < STATUS_KEPT_MS)
        });
        if tasks
            .values()
            .any(|task| task.room_id == room_id && task.finished_at.is_none())
        {
            return Err(Error::invalid_param(format!(
                "A deletion of {room_id} is already running; follow it through its delete_status"
            )));
        }
        let delete_id = random_alphanumeric(16);
        tasks.insert(
            delete_id.clone(),
            DeleteTask {
                delete_id: delete_id.clone(),
                room_id: room_id.to_owned(),
                status: "active",
                error: None,
                shutdown_room: empty_report(),
                finished_at: None,
            },
        );
        Ok(delete_id)
    }
}

/// The shutdown part of the answer, in Synapse's shape (no replacement room is made).
pub fn report_json(report: &ShutdownReport) -> Value {
    json!({
        "kicked_users": report.kicked_users,
        "failed_to_kick_users": report.failed_to_kick_users,
        "local_aliases": report.local_aliases,
        "new_room_id": Value::Null,
    })
}

fn empty_report() -> Value {
    report_json(&ShutdownReport::default())
}

impl Services {
    /// Shuts `room_id` down and, with `purge`, removes it from storage; answers when done.
    pub async fn delete_room(
        &self,
        admin: &UserId,
        room_id: &RoomId,
        options: DeleteOptions,
    ) -> Result<ShutdownReport> {
        self.refuse_if_purging(room_id)?;
        let report = self.rooms.shutdown_room(admin, room_id, options.block).await?;
        if options.purge {
            self.purge_room(admin, room_id, options.force_purge).await?;
        }
        Ok(report)
    }

    /// Starts [`Services::delete_room`] in the background; its delete id.
    pub fn start_room_deletion(&self, admin: &UserId, room_id: OwnedRoomId, options: DeleteOptions) -> Result<String> {
        self.refuse_if_purging(&room_id)?;
        let delete_id = self.room_deletions.begin(&room_id)?;
        let services = self.clone();
        let (task_id, admin): (String, OwnedUserId) = (delete_id.clone(), admin.to_owned());
        tokio::spawn(async move {
            let tasks = &services.room_deletions;
            let shutdown = services.rooms.shutdown_room(&admin, &room_id, options.block).await;
            let outcome = match shutdown {
                Ok(report) => {
                    tasks.update(&task_id, |task| task.shutdown_room = report_json(&report));
                    if options.purge {
                        services.purge_room(&admin, &room_id, options.force_purge).await
                    } else {
                        Ok(())
                    }
                }
                Err(err) => Err(err),
            };
            if let Err(err) = &outcome {
                tracing::error!(%err, room = %room_id, "room deletion failed");
            }
            tasks.update(&task_id, |task| {
                task.status = if outcome.is_ok() { "complete" } else { "failed" };
                task.error = outcome.err().map(|err| err.to_string());
                task.finished_at = Some(now_millis());
            });
        });
        Ok(delete_id)
    }

    /// Removes a shut-down room from storage, then from the search index, and compacts. 400
    /// while local users are still joined, unless forced. An unknown room is left alone.
    async fn purge_room(&self, admin: &UserId, room_id: &RoomId, force: bool) -> Result<()> {
        let rooms = self.rooms.rooms().clone();
        if !rooms.exists(room_id)? {
            return Ok(());
        }
        self.wait_for_outbound(room_id).await?;
        // Under the room's lock, so no one joins between the check and the purge.
        let guard = rooms.lock(room_id).await;
        if !force && self.db().has_joined_member_of(room_id, &self.config.server_name)? {
            return Err(Error::invalid_param(format!(
                "Local users are still joined to {room_id}: their leave failed (see failed_to_kick_users); send force_purge to purge anyway"
            )));
        }
        let mark = RoomPurgeMark {
            admin: admin.to_owned(),
            ts: now_millis(),
        };
        self.db().mark_room_purge(room_id, &mark)?;
        self.run_purge(&mark.admin, room_id, guard).await
    }

    /// Finishes the purges a crash cut short (their rooms are still marked); called once at
    /// start, each in the background. Their checks were done when they began.
    pub fn resume_room_purges(&self) -> Result<()> {
        for (room_id, mark) in self.db().unfinished_room_purges()? {
            tracing::warn!(room = %room_id, admin = %mark.admin, "resuming a room purge cut short");
            let services = self.clone();
            tokio::spawn(async move {
                let guard = services.rooms.rooms().lock(&room_id).await;
                if let Err(err) = services.run_purge(&mark.admin, &room_id, guard).await {
                    tracing::error!(%err, room = %room_id, "a resumed room purge failed; it is tried again at the next start");
                }
            });
        }
        Ok(())
    }

    /// 400 when `room_id`'s purge has begun and not ended (Synapse refuses a second purge the
    /// same way), so nothing else touches a room that is half gone.
    pub fn refuse_if_purging(&self, room_id: &RoomId) -> Result<()> {
        if self.db().room_purge_mark(room_id)?.is_some() {
            return Err(Error::invalid_param(format!(
                "Purge already in progress for {room_id}; it finishes on its own"
            )));
        }
        Ok(())
    }

    /// The purge proper, on the marked room: its events out of the search index, then its
    /// rows out of storage, an audit entry, and compaction. The index goes first, durably: a
    /// purge cut short and run again no longer finds in storage the events it already took,
    /// so it could not take their words out of the index then.
    async fn run_purge(&self, admin: &UserId, room_id: &RoomId, guard: RoomGuard) -> Result<()> {
        let rooms = self.rooms.rooms().clone();
        let search = self.search.clone();
        let db = self.db().clone();
        let room = room_id.to_owned();
        let (purged, event_ids) = tokio::task::spawn_blocking(move || -> Result<(PurgedRoom, Vec<OwnedEventId>)> {
            let events = db.events_of_room(&room)?;
            let event_ids: Vec<OwnedEventId> = events.iter().map(|(_, meta)| meta.event_id.clone()).collect();
            search.remove(&event_ids)?;
            Ok((rooms.purge_room(&guard, events)?, event_ids))
        })
        .await
        .map_err(|err| Error::Internal(format!("purging {room_id} stopped: {err}")))??;
        let event = AuditEvent::new(kinds::ROOM_PURGED)
            .actor(admin)
            .target(room_id)
            .detail("events", purged.events.len())
            .detail("rows", purged.rows);
        self.db().audit(event)?;
        // Removed again before the merge: the search catch-up may have indexed some of them
        // between the first removal and their rows' deletion.
        self.forget_and_compact(event_ids).await?;
        tracing::warn!(admin = %admin, room = %room_id, events = purged.events.len(), "room purged and storage compacted");
        Ok(())
    }

    /// Gives the sender up to [`OUTBOUND_WAIT`] to deliver the room's queued events (the
    /// shutdown's leaves, so other servers learn our users left) before the purge takes them.
    /// A destination that is down gets nothing: its queue rows go with the room.
    async fn wait_for_outbound(&self, room_id: &RoomId) -> Result<()> {
        let deadline = tokio::time::Instant::now() + OUTBOUND_WAIT;
        loop {
            let queued = self.db().queued_in_room(room_id)?;
            if queued == 0 {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!(room = %room_id, queued, "purging with events still queued for unreachable servers");
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }
}
