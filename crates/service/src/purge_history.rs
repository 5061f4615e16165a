//! Purging a room's history up to a point (Synapse's `/_synapse/admin/v1/purge_history`): the
//! messages before it are pruned to their redacted form, as retention prunes them (their
//! content and their local media leave storage; state and the room's newest event stay). As on
//! Synapse, local users' messages are kept unless `delete_local_events` is asked. The purge runs
//! in the background; its status is kept in memory (a restart forgets it, as Synapse's does
//! after a day).

use std::{collections::HashMap, sync::Arc};

use accord_db::{AuditEvent, Direction, rooms::ShortEventId};
use parking_lot::Mutex;
use ruma::{EventId, OwnedEventId, OwnedRoomId, OwnedUserId};
use serde::Serialize;

use crate::{Error, Result, Services, tokens::random_alphanumeric};

/// Timeline entries read per step.
const PAGE: usize = 500;

/// Where a purge stops.
#[derive(Debug, Clone)]
pub enum PurgePoint {
    /// Before this event (it stays).
    Event(OwnedEventId),
    /// Before this time, ms.
    Timestamp(u64),
}

/// A purge's state, in Synapse's words.
#[derive(Debug, Clone, Serialize)]
pub struct PurgeStatus {
    /// `active`, `complete` or `failed`.
    pub status: &'static str,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Events pruned (Accord's own field).
    pub events_pruned: usize,
}

/// Purges started since the process began, by id.
#[derive(Debug, Clone, Default)]
pub struct PurgeTasks(Arc<Mutex<HashMap<String, PurgeStatus>>>);

impl PurgeTasks {
    fn set(&self, id: &str, status: PurgeStatus) {
        self.0.lock().insert(id.to_owned(), status);
    }

    /// The status of purge `id`.
    pub fn get(&self, id: &str) -> Option<PurgeStatus> {
        self.0.lock().get(id).cloned()
    }
}

impl Services {
    /// Checks the purge point and starts the purge in the background; its id.
    pub fn start_purge_history(
        &self,
        admin: &ruma::UserId,
        room_id: OwnedRoomId,
        point: PurgePoint,
        delete_local_events: bool,
    ) -> Result<String> {
        let db = self.db();
        if db.get_room_meta(&room_id)?.is_none() {
            return Err(Error::not_found(format!("Room {room_id} not found")));
        }
        let stop_at = match &point {
            PurgePoint::Event(event_id) => Some(self.purge_event_position(&room_id, event_id)?),
            PurgePoint::Timestamp(_) => None,
        };
        let id = random_alphanumeric(16);
        self.purges.set(
            &id,
            PurgeStatus {
                status: "active",
                error: None,
                events_pruned: 0,
            },
        );
        let services = self.clone();
        let (task_id, admin) = (id.clone(), admin.to_owned());
        tokio::spawn(async move {
            let outcome = services
                .purge_history(&admin, &room_id, &point, stop_at, delete_local_events)
                .await;
            let status = match outcome {
                Ok(pruned) => PurgeStatus {
                    status: "complete",
                    error: None,
                    events_pruned: pruned,
                },
                Err(err) => {
                    tracing::error!(%err, room = %room_id, "purge failed");
                    PurgeStatus {
                        status: "failed",
                        error: Some(err.to_string()),
                        events_pruned: 0,
                    }
                }
            };
            services.purges.set(&task_id, status);
        });
        Ok(id)
    }

    /// The timeline position of `event_id` in `room_id`: 400 for another room's event, 404 for
    /// an unknown one.
    fn purge_event_position(&self, room_id: &OwnedRoomId, event_id: &EventId) -> Result<u64> {
        let db = self.db();
        let short = db
            .get_short_event_id(event_id)?
            .ok_or_else(|| Error::not_found(format!("Event {event_id} not found")))?;
        let meta = db.event_meta(short)?;
        if meta.room_id != *room_id {
            return Err(Error::invalid_param("Event is for wrong room."));
        }
        meta.count
            .ok_or_else(|| Error::invalid_param("The event is not in the room's timeline"))
    }

    async fn purge_history(
        &self,
        admin: &OwnedUserId,
        room_id: &OwnedRoomId,
        point: &PurgePoint,
        stop_at: Option<u64>,
        delete_local_events: bool,
    ) -> Result<usize> {
        let db = self.db();
        let rooms = self.rooms.rooms();
        let newest = db
            .timeline(room_id, u64::MAX, None, Direction::Backward, 1)?
            .first()
            .map(|(count, _)| *count);
        let mut doomed: Vec<ShortEventId> = Vec::new();
        let mut ids: Vec<OwnedEventId> = Vec::new();
        let mut from = 0;
        'walk: loop {
            let page = db.timeline(room_id, from, None, Direction::Forward, PAGE)?;
            let Some(&(last, _)) = page.last() else {
                break;
            };
            for (count, short) in &page {
                if Some(*count) == newest || stop_at.is_some_and(|stop| *count >= stop) {
                    break 'walk;
                }
                let Some(pdu) = rooms.pdu(*short)? else {
                    continue;
                };
                if let PurgePoint::Timestamp(ts) = point
                    && u64::from(pdu.origin_server_ts.get()) >= *ts
                {
                    break 'walk;
                }
                let local = pdu.sender.server_name() == self.config.server_name;
                if pdu.state_key.is_none() && (delete_local_events || !local) {
                    doomed.push(*short);
                    ids.push(pdu.event_id);
                }
            }
            from = last;
        }
        let pruned = rooms.prune_events(&doomed)?;
        self.forget_and_compact(ids).await?;
        self.audit.record(
            AuditEvent::new(crate::audit::kinds::HISTORY_PURGED)
                .actor(admin)
                .target(room_id)
                .detail("events_pruned", pruned)
                .detail("delete_local_events", delete_local_events),
        );
        Ok(pruned)
    }
}
