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

use super::{RoomService, relations::Bundles};
use crate::{AuthedUser, Error, Result};

impl RoomService {
    /// The client form of a stored event, as `viewer` should see it, with the aggregations of
    /// its children bundled; `None` for a message of a user the viewer ignores.
    pub(crate) fn render(&self, short: ShortEventId, viewer: Option<&AuthedUser>) -> Result<Option<Value>> {
        self.render_bundled(short, viewer, Bundles::All)
    }

    /// [`Self::render`] with only the aggregations `bundles` asks for (an event bundled inside
    /// another's carries less, so a chain of edits is never followed further).
    pub(crate) fn render_bundled(
        &self,
        short: ShortEventId,
        viewer: Option<&AuthedUser>,
        bundles: Bundles,
    ) -> Result<Option<Value>> {
        let db = self.rooms.db();
        let meta = db.event_meta(short)?;
        let Some(mut pdu) = self.rooms.pdu(short)? else {
            return Ok(None);
        };
        if let Some(viewer) = viewer
            && !pdu.is_state()
            && crate::ignored_users::ignores(db, &viewer.user_id, &pdu.sender)?
        {
            return Ok(None);
        }
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
        } else if !pdu.is_state()
            && bundles != Bundles::None
            && let Some(bundle) = self.aggregations(
                &pdu.room_id,
                &pdu.event_id,
                pdu.sender.as_str(),
                &pdu.kind.to_string(),
                viewer,
                bundles,
            )?
        {
            unsigned.insert("m.relations".to_owned(), bundle);
        }
        if pdu.is_state()
            && let Some(previous) = self.replaced_state(&pdu)?
        {
            unsigned.insert("prev_content".to_owned(), previous.content_value());
            // Not in the spec; Synapse adds it and clients show "X changed Y's name" from it.
            unsigned.insert("prev_sender".to_owned(), Value::String(previous.sender.to_string()));
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

    /// The state event this one replaced, for `unsigned.prev_content`: the same type and key in
    /// the state after its first prev event; failing that (its prev events are outliers, as
    /// after a join over federation), among its auth events, which hold the previous member
    /// event of a membership change.
    fn replaced_state(&self, pdu: &Pdu) -> Result<Option<Pdu>> {
        let Some(state_key) = &pdu.state_key else {
            return Ok(None);
        };
        let kind = pdu.kind.to_string();
        if let Some(prev) = pdu.prev_events.first()
            && let Some(prev_short) = self.rooms.db().get_short_event_id(prev)?
            && let Some(state) = self.rooms.state_after(prev_short)?
            && let Some(previous) = self.rooms.state_event(&state, &kind.clone().into(), state_key)?
        {
            return Ok(Some(previous));
        }
        for auth in &pdu.auth_events {
            if let Some(event) = self.rooms.pdu_by_id(auth)?
                && event.kind.to_string() == kind
                && event.state_key.as_deref() == Some(state_key.as_str())
            {
                return Ok(Some(event));
            }
        }
        Ok(None)
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

impl RoomService {
    /// An event as pushed to an application service: the client format as no particular
    /// user sees it, without bundled aggregations (the service gets every event itself), plus
    /// the legacy top-level `age` and `user_id` (the sender) that Synapse still sends and
    /// older bridges read.
    pub(crate) fn render_for_appservice(&self, short: ShortEventId) -> Result<Option<Value>> {
        let Some(mut event) = self.render_bundled(short, None, Bundles::None)? else {
            return Ok(None);
        };
        if let Some(object) = event.as_object_mut() {
            let age = object.get("unsigned").and_then(|unsigned| unsigned.get("age")).cloned();
            if let Some(age) = age {
                object.insert("age".to_owned(), age);
            }
            if let Some(sender) = object.get("sender").cloned() {
                object.insert("user_id".to_owned(), sender);
            }
        }
        Ok(Some(event))
    }
}
