//! Remote events kept but never served to clients (spec: "Checks performed on receipt of a
//! PDU"): a rejected event failed the authorization rules against its auth events or the state
//! before it; a soft-failed one passed those but not the room's current state. Both are stored,
//! so the DAG stays whole (later events may name them as prev events, and other servers may ask
//! for them), with no stream position and without becoming a forward extremity. The state after
//! a rejected event is the state before it; a soft-failed event's state includes it, since state
//! resolution may still pick it when later events reference it.

use accord_core::Pdu;
use accord_db::rooms::{EventMeta, RoomBatch, ShortEventId};
use ruma::CanonicalJsonObject;

use crate::{Error, Result, Rooms, state::RoomState};

/// Why an event is kept out of clients' sight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unserved {
    /// Failed authorization at its place in the DAG.
    Rejected,
    /// Failed only against the current state.
    SoftFailed,
}

impl Rooms {
    /// Stores `pdu` as `why` says, with whatever `batch` holds, in one synced write.
    pub(crate) fn store_unserved(
        &self,
        mut batch: RoomBatch<'_>,
        pdu: &Pdu,
        json: CanonicalJsonObject,
        before: &RoomState,
        why: Unserved,
    ) -> Result<()> {
        let db = &self.db;
        let short = ShortEventId(db.next_short_id());
        let room_id = batch.room_id().to_owned();
        db.put_short_event_id(&mut batch, &pdu.event_id, short);
        let canonical = serde_json::to_vec(&json).map_err(|err| Error::InvalidEvent(err.to_string()))?;
        db.put_pdu_json(&mut batch, short, canonical);
        let state_after = match (why, &pdu.state_key) {
            (Unserved::SoftFailed, Some(state_key)) => {
                let key = db.intern_state_key(&pdu.kind.to_string(), state_key)?;
                db.put_state_diff(&mut batch, Some(before.hash), vec![(key, short)], Vec::new())?
            }
            _ => before.hash,
        };
        db.put_event_meta(
            &mut batch,
            short,
            &EventMeta {
                event_id: pdu.event_id.clone(),
                room_id: room_id.clone(),
                count: None,
                state_after: Some(state_after.0),
                rejected: why == Unserved::Rejected,
                soft_failed: why == Unserved::SoftFailed,
                redacted_by: None,
                txn: None,
                gap_before: false,
            },
        );
        db.write_room(batch)?;
        tracing::info!(room = %room_id, event = %pdu.event_id, ?why, "stored an event clients won't see");
        Ok(())
    }
}
