//! PDUs arriving from other servers (in transactions): the signing keys are fetched, the room
//! writer checks and stores the event, and when its prev events are unknown here the gap is
//! filled first through `/get_missing_events` at the sending server (bounded: one round of at
//! most [`MISSING_EVENTS_LIMIT`] events, each accepted oldest first, then the event is retried).

use ruma::{
    CanonicalJsonObject, CanonicalJsonValue, OwnedEventId, RoomId, ServerName, UInt,
    api::federation::event::get_missing_events::v1 as get_missing_events,
};

use accord_room::PendingWrites;

use crate::{Error, Result, Services};

/// How many missing events one gap-filling request asks for.
const MISSING_EVENTS_LIMIT: u32 = 50;

impl Services {
    /// Checks and stores one PDU `origin` sent for `room_id`, durably; returns its event id.
    pub async fn receive_pdu(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        object: CanonicalJsonObject,
    ) -> Result<OwnedEventId> {
        let pending = PendingWrites::default();
        let received = self.receive_pdu_into(origin, room_id, object, &pending).await;
        self.rooms.rooms().make_durable(pending).await?;
        received
    }

    /// Like [`Services::receive_pdu`], but the writes join `pending` (one fsync for a whole
    /// transaction, made by the caller before it answers).
    pub async fn receive_pdu_into(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        object: CanonicalJsonObject,
        pending: &PendingWrites,
    ) -> Result<OwnedEventId> {
        let missing = match self.accept_pdu(origin, room_id, object.clone(), pending).await? {
            Ok(event_id) => return Ok(event_id),
            Err(missing) => missing,
        };
        tracing::info!(%origin, room = %room_id, ?missing, "filling a gap with /get_missing_events");
        self.fill_gap(origin, room_id, &object, pending).await?;
        self.accept_pdu(origin, room_id, object, pending)
            .await?
            .map_err(gap_error)
    }

    /// One attempt: keys, then the room writer. `Ok(Err(missing))` names the prev events that
    /// are unknown here.
    async fn accept_pdu(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        object: CanonicalJsonObject,
        pending: &PendingWrites,
    ) -> Result<std::result::Result<OwnedEventId, Vec<OwnedEventId>>> {
        let federation = self.federation_for("The event")?;
        let keys = federation
            .event_signing_keys(&object, &self.signing_rules(room_id))
            .await
            .map_err(|err| Error::forbidden(format!("signing keys unavailable: {err}")))?;
        match self
            .rooms
            .rooms()
            .accept_remote_event_into(origin, room_id, object, &keys, pending)
            .await
        {
            Ok(event_id) => Ok(Ok(event_id)),
            Err(accord_room::Error::MissingPrevEvents(missing)) => Ok(Err(missing)),
            Err(other) => Err(other.into()),
        }
    }

    /// Asks `origin` for the events between our forward extremities and `event`, and accepts
    /// them oldest first. Events that fail are logged and skipped: the retry of `event` says
    /// whether the gap closed.
    async fn fill_gap(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        event: &CanonicalJsonObject,
        pending: &PendingWrites,
    ) -> Result<()> {
        let federation = self.federation_for("Missing events")?;
        let Some(CanonicalJsonValue::Array(prevs)) = event.get("prev_events") else {
            return Err(Error::bad_json("the event has no prev_events"));
        };
        let latest: Vec<OwnedEventId> = prevs
            .iter()
            .filter_map(|p| match p {
                CanonicalJsonValue::String(id) => OwnedEventId::try_from(id.as_str()).ok(),
                // Room versions 1 and 2: [event_id, hashes].
                CanonicalJsonValue::Array(pair) => pair
                    .first()
                    .and_then(|id| id.as_str())
                    .and_then(|id| OwnedEventId::try_from(id).ok()),
                _ => None,
            })
            .collect();
        let earliest = self.db().extremities(room_id)?;
        let mut request = get_missing_events::Request::new(room_id.to_owned(), earliest, latest);
        request.limit = UInt::from(MISSING_EVENTS_LIMIT);
        let response = federation
            .client()
            .send(origin, request)
            .await
            .map_err(|err| Error::forbidden(format!("{origin} did not answer /get_missing_events: {err}")))?;
        let mut events: Vec<(u64, CanonicalJsonObject)> = response
            .events
            .iter()
            .filter_map(|raw| serde_json::from_str::<CanonicalJsonObject>(raw.get()).ok())
            .map(|object| {
                let depth = match object.get("depth") {
                    Some(CanonicalJsonValue::Integer(depth)) => u64::try_from(i64::from(*depth)).unwrap_or(0),
                    _ => 0,
                };
                (depth, object)
            })
            .collect();
        events.sort_by_key(|(depth, _)| *depth);
        for (_, object) in events {
            match self.accept_pdu(origin, room_id, object, pending).await {
                Ok(Ok(_)) => {}
                Ok(Err(missing)) => tracing::info!(%origin, room = %room_id, ?missing, "missing event has a gap too"),
                Err(err) => tracing::info!(%origin, room = %room_id, %err, "missing event refused"),
            }
        }
        Ok(())
    }
}

fn gap_error(missing: Vec<OwnedEventId>) -> Error {
    Error::bad_json(format!("prev events unknown here and not fetched: {missing:?}"))
}
