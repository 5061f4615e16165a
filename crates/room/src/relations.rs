//! Indexing events as they take their place in the timeline: by time, and by relation
//! (`m.relates_to`, spec: "Forming relationships between events"), live or backfilled, in the
//! same batch; and dropping a relation when its event is redacted (redaction strips
//! `m.relates_to`).

use accord_core::Pdu;
use accord_db::rooms::{RelationRecord, RoomBatch, ShortEventId};
use ruma::OwnedEventId;
use serde::Deserialize;

use crate::{Result, Rooms};

/// `content["m.relates_to"]` as far as the index needs it.
#[derive(Deserialize)]
struct RelatesTo {
    rel_type: String,
    event_id: OwnedEventId,
}

#[derive(Deserialize)]
struct WithRelation {
    #[serde(rename = "m.relates_to")]
    relates_to: RelatesTo,
}

/// The event `pdu` relates to and how, when its content says (replies, `m.in_reply_to`
/// without a `rel_type`, are no relation in this sense).
pub fn relation_of(pdu: &Pdu) -> Option<(OwnedEventId, String)> {
    let content: WithRelation = serde_json::from_str(pdu.content.get()).ok()?;
    Some((content.relates_to.event_id, content.relates_to.rel_type))
}

impl Rooms {
    /// Queues the indexes kept for every event placed in a timeline (live or backfilled): by
    /// time, and under the event it relates to.
    pub(crate) fn index_placed(
        &self,
        batch: &mut RoomBatch<'_>,
        pdu: &Pdu,
        count: u64,
        short: ShortEventId,
    ) -> Result<()> {
        self.db
            .put_event_time(batch, u64::from(pdu.origin_server_ts.get()), count, short);
        self.index_relation(batch, pdu, count, short)
    }

    /// Queues indexing `pdu` (placed at `count` as `short`) under the event it relates to.
    fn index_relation(&self, batch: &mut RoomBatch<'_>, pdu: &Pdu, count: u64, short: ShortEventId) -> Result<()> {
        let Some((parent, rel_type)) = relation_of(pdu) else {
            return Ok(());
        };
        let record = RelationRecord {
            rel_type,
            kind: pdu.kind.to_string(),
            sender: pdu.sender.to_string(),
        };
        self.db.put_relation(batch, &parent, count, short, &record)?;
        Ok(())
    }

    /// Queues dropping the relation of `target` (being redacted), if it had one.
    pub(crate) fn unindex_relation(&self, batch: &mut RoomBatch<'_>, target: ShortEventId, count: u64) -> Result<()> {
        if let Some(pdu) = self.pdu(target)?
            && let Some((parent, _)) = relation_of(&pdu)
        {
            self.db.delete_relation(batch, &parent, count, target);
        }
        Ok(())
    }
}
