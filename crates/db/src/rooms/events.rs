//! Stored PDUs (canonical JSON exactly as signed) and what Accord knows about each event and
//! each room.

use super::RoomBatch;
use ruma::{CanonicalJsonObject, OwnedEventId, OwnedRoomId, RoomId, RoomVersionId};
use serde::{Deserialize, Serialize};

use super::{ShortEventId, ShortStateHash};
use crate::{
    Db, Error, Result,
    database::{decode, encode},
    tables::{ROOMID_ROOMMETA, SHORTEVENTID_EVENTMETA, SHORTEVENTID_PDU},
};

/// What Accord knows about one stored event besides its JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventMeta {
    /// The event id.
    pub event_id: OwnedEventId,
    /// The room it belongs to.
    pub room_id: OwnedRoomId,
    /// Its position in the global stream, if it is in the timeline (not an outlier).
    pub count: Option<u64>,
    /// The room state after this event (`None` for outliers).
    pub state_after: Option<u64>,
    /// Failed authorization: kept for the DAG, never served to clients.
    #[serde(default)]
    pub rejected: bool,
    /// Passed authorization at its place in the DAG but not against the room's current state
    /// (spec: "soft failure"): stored with its state, kept out of the timeline and the forward
    /// extremities, never served to clients.
    #[serde(default)]
    pub soft_failed: bool,
    /// The redaction event that redacted it, once redacted.
    #[serde(default)]
    pub redacted_by: Option<OwnedEventId>,
    /// The sending device and its transaction id, for local events sent with one (clients
    /// match their local echo by `unsigned.transaction_id`).
    #[serde(default)]
    pub txn: Option<(ruma::OwnedDeviceId, String)>,
    /// A prev event of this one was not in the timeline when it arrived (known only from the
    /// state fetched at it, after `/get_missing_events` could not reach it): the timeline has
    /// a hole just before this event. /sync stops there and says `limited`, so clients don't
    /// show the events on either side as adjacent (Synapse marks such gaps too; Complement's
    /// TestSyncTimelineGap).
    #[serde(default)]
    pub gap_before: bool,
}

impl EventMeta {
    /// The state after this event, as a typed id.
    pub fn state_after(&self) -> Option<ShortStateHash> {
        self.state_after.map(ShortStateHash)
    }
}

/// What Accord knows about a room as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomMeta {
    /// The room version, which fixes event format, auth rules and redaction.
    pub version: RoomVersionId,
    /// The current state snapshot.
    pub current_state: u64,
}

impl Db {
    /// Every room this server knows (has state for), in byte order of the id.
    pub fn room_ids(&self) -> Result<Vec<ruma::OwnedRoomId>> {
        Ok(self
            .scan_keys(ROOMID_ROOMMETA, b"")?
            .into_iter()
            .filter_map(|key| ruma::OwnedRoomId::try_from(String::from_utf8(key).ok()?).ok())
            .collect())
    }

    /// Calls `each` with every stored PDU, in short id order (for `accord verify`).
    pub fn for_each_pdu(&self, mut each: impl FnMut(ShortEventId, CanonicalJsonObject) -> Result<()>) -> Result<()> {
        for item in self
            .engine()
            .iter_from(SHORTEVENTID_PDU, None, accord_storage::Direction::Forward)?
        {
            let (key, value) = item?;
            let short = <[u8; 8]>::try_from(key.as_slice())
                .map(u64::from_be_bytes)
                .map_err(|_| crate::Error::Corrupt {
                    table: SHORTEVENTID_PDU,
                    reason: "a short event id is not 8 bytes".to_owned(),
                })?;
            each(ShortEventId(short), decode(SHORTEVENTID_PDU, &value)?)?;
        }
        Ok(())
    }

    /// Every stored event `sender` sent, in short id order: one pass over all events (there is
    /// no index by sender), for a person's export or erasure; progress is logged.
    pub fn events_sent_by(&self, sender: &ruma::UserId) -> Result<Vec<ShortEventId>> {
        let mut found = Vec::new();
        let mut read = 0u64;
        self.for_each_pdu(|short, object| {
            read += 1;
            if read.is_multiple_of(100_000) {
                tracing::info!(read, "reading stored events for one sender");
            }
            if object.get("sender").and_then(|value| value.as_str()) == Some(sender.as_str()) {
                found.push(short);
            }
            Ok(())
        })?;
        Ok(found)
    }

    /// A stored PDU's canonical JSON.
    pub fn get_pdu_json(&self, short: ShortEventId) -> Result<Option<CanonicalJsonObject>> {
        self.get_raw(SHORTEVENTID_PDU, &short.0.to_be_bytes())?
            .map(|bytes| decode(SHORTEVENTID_PDU, &bytes))
            .transpose()
    }

    /// Queues storing a PDU's canonical JSON (already serialized canonically).
    pub fn put_pdu_json(&self, batch: &mut RoomBatch<'_>, short: ShortEventId, canonical: Vec<u8>) {
        batch.rows().put(SHORTEVENTID_PDU, short.0.to_be_bytes(), canonical);
        // Every caller stores a new event (local, received, backfilled or an outlier).
        self.count_event_written();
    }

    /// Queues replacing a stored event's JSON with its pruned (redacted) form: the same event,
    /// its content gone. Only for pruning; a new event goes through [`Self::put_pdu_json`].
    pub fn replace_pdu_json(&self, batch: &mut accord_storage::WriteBatch, short: ShortEventId, pruned: Vec<u8>) {
        batch.put(SHORTEVENTID_PDU, short.0.to_be_bytes(), pruned);
    }

    /// What is known about a stored event.
    pub fn event_meta(&self, short: ShortEventId) -> Result<EventMeta> {
        self.get_json(SHORTEVENTID_EVENTMETA, &short.0.to_be_bytes())?
            .ok_or(Error::NotFound("event meta"))
    }

    /// Queues storing event meta.
    pub fn put_event_meta(&self, batch: &mut RoomBatch<'_>, short: ShortEventId, meta: &EventMeta) {
        batch
            .rows()
            .put(SHORTEVENTID_EVENTMETA, short.0.to_be_bytes(), encode(meta));
    }

    /// A room's meta, if Accord knows the room.
    pub fn get_room_meta(&self, room_id: &RoomId) -> Result<Option<RoomMeta>> {
        self.get_json(ROOMID_ROOMMETA, room_id.as_bytes())
    }

    /// Queues storing the batch's room's meta.
    pub fn put_room_meta(&self, batch: &mut RoomBatch<'_>, meta: &RoomMeta) {
        let key = batch.room_id().as_bytes().to_vec();
        batch.rows().put(ROOMID_ROOMMETA, key, encode(meta));
    }
}
