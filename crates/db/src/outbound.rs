//! The durable per-destination outbound queue: rows are queued in the event's own batch, so a
//! crash never loses an event that other servers should receive.

use crate::database::decode_id;
use accord_storage::{
    Direction, WriteBatch,
    codec::{KeyBuilder, KeyReader},
};
use ruma::{EventId, OwnedEventId, OwnedServerName, ServerName};

use crate::{Db, Error, Result, tables::DESTINATION_COUNT_EVENTID};

impl Db {
    /// Queues `event_id` for `destination` at stream position `count`, in the event's own
    /// room batch (under the room's lock, so queue rows follow the room's order).
    pub fn queue_for_destination(
        &self,
        batch: &mut crate::rooms::RoomBatch<'_>,
        destination: &ServerName,
        count: u64,
        event_id: &EventId,
    ) {
        batch.rows().put(
            DESTINATION_COUNT_EVENTID,
            KeyBuilder::new().str(destination.as_str()).u64(count).build(),
            event_id.as_bytes(),
        );
    }

    /// How many queued deliveries (any destination) carry an event of `room_id`: one pass over
    /// the queue, which is short unless a partner is down.
    pub fn queued_in_room(&self, room_id: &ruma::RoomId) -> Result<usize> {
        let mut queued = 0;
        for item in self
            .engine()
            .iter_from(DESTINATION_COUNT_EVENTID, None, Direction::Forward)?
        {
            let (_, value) = item?;
            let event_id: OwnedEventId = decode_id(DESTINATION_COUNT_EVENTID, &value)?;
            if let Some(short) = self.get_short_event_id(&event_id)?
                && self.event_meta(short)?.room_id == room_id
            {
                queued += 1;
            }
        }
        Ok(queued)
    }

    /// Up to `limit` queued events for `destination`, oldest first: `(count, event id)`.
    pub fn queued_for(&self, destination: &ServerName, limit: usize) -> Result<Vec<(u64, OwnedEventId)>> {
        let prefix = KeyBuilder::new().str(destination.as_str()).prefix();
        let corrupt = |reason: String| Error::Corrupt {
            table: DESTINATION_COUNT_EVENTID,
            reason,
        };
        let mut out = Vec::new();
        for item in self
            .engine()
            .iter_prefix(DESTINATION_COUNT_EVENTID, &prefix, Direction::Forward)?
            .take(limit)
        {
            let (key, value) = item?;
            let mut reader = KeyReader::new(&key);
            reader.str().map_err(|e| corrupt(e.to_string()))?;
            let count = reader.u64().map_err(|e| corrupt(e.to_string()))?;
            let event_id = decode_id(DESTINATION_COUNT_EVENTID, &value)?;
            out.push((count, event_id));
        }
        Ok(out)
    }

    /// Removes delivered rows.
    pub fn dequeue(&self, destination: &ServerName, counts: &[u64]) -> Result<()> {
        let mut batch = WriteBatch::new();
        for count in counts {
            batch.delete(
                DESTINATION_COUNT_EVENTID,
                KeyBuilder::new().str(destination.as_str()).u64(*count).build(),
            );
        }
        self.write(batch)
    }

    /// Every destination with queued events: one seek per destination, whatever the backlog
    /// (the sender asks after every commit, while a partner that is down may have thousands).
    pub fn queued_destinations(&self) -> Result<Vec<OwnedServerName>> {
        Ok(self
            .distinct_first_parts(DESTINATION_COUNT_EVENTID)?
            .into_iter()
            .filter_map(|name| OwnedServerName::try_from(name).ok())
            .collect())
    }
}
