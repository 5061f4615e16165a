//! Feeding the index: what of an event is searchable, following the timeline feed, and
//! rebuilding from every timeline.

use std::sync::atomic::Ordering;

use accord_db::rooms::ShortEventId;
use accord_search::{IndexedEvent, Progress};
use ruma::{RoomId, events::TimelineEventType};

use super::{Search, search_error};
use crate::Result;

/// Feed rows read per page.
const PAGE: usize = 1000;

/// A rebuild logs its progress every this many events.
const LOG_EVERY: usize = 100_000;

impl Search {
    /// Follows the feed from `progress` to the end.
    pub(super) fn follow(&self, progress: Progress) -> Result<()> {
        let db = &self.db;
        let visible = db.visible_count();
        let mut next = progress;
        let mut changed = false;
        while next.live < visible {
            let positions = db.stream_positions(next.live, visible, PAGE)?;
            let Some(&(last, _)) = positions.last() else {
                break;
            };
            for (count, room_id) in positions {
                if let Some(short) = db.timeline_entry(&room_id, count)? {
                    changed |= self.feed(&room_id, count, short)?;
                }
            }
            next.live = last;
        }
        next.live = next.live.max(visible);
        loop {
            let positions = db.backfilled_positions(next.backfill, PAGE)?;
            let Some(&(lowest, _)) = positions.last() else {
                break;
            };
            for (count, room_id) in positions {
                if let Some(short) = db.timeline_entry(&room_id, count)? {
                    changed |= self.feed(&room_id, count, short)?;
                }
            }
            next.backfill = lowest;
        }
        if changed || next != progress {
            self.index.commit(next).map_err(search_error)?;
        }
        Ok(())
    }

    /// Empties the index and indexes every timeline; returns how many events it holds.
    pub(super) fn rebuild_locked(&self) -> Result<usize> {
        self.rebuilding.store(true, Ordering::SeqCst);
        let built = self.rebuild_all();
        self.rebuilding.store(false, Ordering::SeqCst);
        built
    }

    fn rebuild_all(&self) -> Result<usize> {
        let db = &self.db;
        // Where the feed stands now: what arrives during the rebuild is caught up after it.
        let start = Progress {
            live: db.visible_count(),
            backfill: db.backfill_floor_value(),
        };
        tracing::info!("building the search index from every room's timeline");
        self.index.clear().map_err(search_error)?;
        let (mut scanned, mut indexed) = (0usize, 0usize);
        let mut after: Option<(ruma::OwnedRoomId, u64)> = None;
        loop {
            let rows = db.timeline_rows_after(after.as_ref().map(|(room, count)| (&**room, *count)), PAGE)?;
            let Some((room, count, _)) = rows.last() else {
                break;
            };
            after = Some((room.clone(), *count));
            for (room_id, count, short) in rows {
                indexed += usize::from(self.feed(&room_id, count, short)?);
                scanned += 1;
                if scanned.is_multiple_of(LOG_EVERY) {
                    tracing::info!(scanned, indexed, "building the search index");
                }
            }
        }
        self.index.commit(start).map_err(search_error)?;
        tracing::info!(scanned, indexed, "search index built");
        Ok(indexed)
    }

    /// Indexes one timeline event if it has searchable text, or applies a redaction; returns
    /// whether the index changed.
    fn feed(&self, room_id: &RoomId, count: u64, short: ShortEventId) -> Result<bool> {
        let meta = self.db.event_meta(short)?;
        if meta.rejected || meta.soft_failed {
            return Ok(false);
        }
        let Some(pdu) = self.rooms.pdu(short)? else {
            return Ok(false);
        };
        if pdu.kind == TimelineEventType::RoomRedaction {
            let content = pdu.content_value();
            let target = pdu
                .redacts
                .as_ref()
                .map(ToString::to_string)
                .or_else(|| content["redacts"].as_str().map(str::to_owned));
            if let Some(target) = target {
                self.index.remove(&target).map_err(search_error)?;
                return Ok(true);
            }
            return Ok(false);
        }
        if meta.redacted_by.is_some() {
            return Ok(false);
        }
        let content = pdu.content_value();
        let text = |key: &str| content[key].as_str().map(str::to_owned);
        let (body, name, topic) = match pdu.kind {
            TimelineEventType::RoomMessage => (text("body"), None, None),
            TimelineEventType::RoomName => (None, text("name"), None),
            TimelineEventType::RoomTopic => (None, None, text("topic")),
            _ => return Ok(false),
        };
        if body.is_none() && name.is_none() && topic.is_none() {
            return Ok(false);
        }
        let event = IndexedEvent {
            event_id: pdu.event_id.to_string(),
            room_id: room_id.to_string(),
            sender: pdu.sender.to_string(),
            count,
            body,
            name,
            topic,
        };
        self.index.add(&event).map_err(search_error)?;
        Ok(true)
    }
}
