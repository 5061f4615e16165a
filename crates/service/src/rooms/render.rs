//! Events as clients see them: the client-server event format, `unsigned` (age, the sender's
//! transaction id, `redacted_because`), and redacted content for redacted events.

use accord_core::{Pdu, time::now_millis};
use accord_db::rooms::ShortEventId;
use ruma::{
    RoomVersionId,
    canonical_json::{RedactedBecause, redact},
    events::room::member::MembershipState,
};
use serde_json::{Map, Value};

use super::RoomService;
use crate::{AuthedUser, Error, Result};

impl RoomService {
    /// The client form of a stored event, as `viewer` should see it.
    pub(crate) fn render(&self, short: ShortEventId, viewer: Option<&AuthedUser>) -> Result<Option<Value>> {
        let db = self.rooms.db();
        let meta = db.event_meta(short)?;
        let Some(mut pdu) = self.rooms.pdu(short)? else {
            return Ok(None);
        };
        let mut unsigned = Map::new();
        unsigned.insert(
            "age".to_owned(),
            Value::from(now_millis().saturating_sub(u64::from(pdu.origin_server_ts.0))),
        );
        if let (Some(viewer), Some((device, txn_id))) = (viewer, &meta.txn)
            && viewer.user_id == pdu.sender
            && &viewer.device_id == device
        {
            unsigned.insert("transaction_id".to_owned(), Value::String(txn_id.clone()));
        }
        if let Some(redaction_id) = &meta.redacted_by
            && let Some(redaction) = self.rooms.pdu_by_id(redaction_id)?
        {
            pdu = self.redacted(&pdu, &redaction)?;
            unsigned.insert("redacted_because".to_owned(), redaction.to_client_event(Map::new()));
        }
        if pdu.is_state()
            && let Some(prev) = self.prev_content(&pdu)?
        {
            unsigned.insert("prev_content".to_owned(), prev);
        }
        if let Some(viewer) = viewer {
            let membership = self.membership_at(short, meta.count, &pdu, viewer)?;
            unsigned.insert("membership".to_owned(), Value::String(membership.to_string()));
        }
        Ok(Some(pdu.to_client_event(unsigned)))
    }

    /// The viewer's membership in the room at an event, the event itself included (spec
    /// v1.11, `unsigned.membership`; `leave` when they never were in it). For an event at or
    /// after their latest membership change that is their current membership (one read);
    /// only older events need the room's state at that point.
    fn membership_at(
        &self,
        short: ShortEventId,
        count: Option<u64>,
        pdu: &Pdu,
        viewer: &AuthedUser,
    ) -> Result<MembershipState> {
        let record = self.rooms.db().get_membership(&viewer.user_id, &pdu.room_id)?;
        if let (Some(record), Some(count)) = (&record, count)
            && count >= record.count
        {
            return Ok(record.membership.clone());
        }
        let Some(state) = self.rooms.state_after(short)? else {
            return Ok(MembershipState::Leave);
        };
        Ok(self
            .rooms
            .membership_in(&state, &viewer.user_id)?
            .unwrap_or(MembershipState::Leave))
    }

    /// The content of the state event this one replaced, for `unsigned.prev_content`.
    fn prev_content(&self, pdu: &Pdu) -> Result<Option<Value>> {
        let (Some(state_key), Some(prev)) = (&pdu.state_key, pdu.prev_events.first()) else {
            return Ok(None);
        };
        let Some(prev_short) = self.rooms.db().get_short_event_id(prev)? else {
            return Ok(None);
        };
        let Some(state) = self.rooms.state_after(prev_short)? else {
            return Ok(None);
        };
        Ok(self
            .rooms
            .state_event(&state, &pdu.kind.to_string().into(), state_key)?
            .map(|previous| previous.content_value()))
    }

    fn redacted(&self, pdu: &Pdu, redaction: &Pdu) -> Result<Pdu> {
        let version: RoomVersionId = self.rooms.room_version(&pdu.room_id)?;
        let rules = version
            .rules()
            .ok_or_else(|| Error::Internal(format!("no rules for {version}")))?;
        let Some(short) = self.rooms.db().get_short_event_id(&pdu.event_id)? else {
            return Ok(pdu.clone());
        };
        let Some(json) = self.rooms.db().get_pdu_json(short)? else {
            return Ok(pdu.clone());
        };
        let because = self
            .rooms
            .db()
            .get_short_event_id(&redaction.event_id)?
            .and_then(|s| self.rooms.db().get_pdu_json(s).ok().flatten());
        let redacted = redact(json, &rules.redaction, because.map(RedactedBecause::from_json))
            .map_err(|err| Error::Internal(format!("redaction failed: {err}")))?;
        Pdu::from_canonical(pdu.event_id.clone(), &pdu.room_id, &redacted)
            .map_err(|err| Error::Internal(err.to_string()))
    }
}
