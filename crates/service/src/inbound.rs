//! PDUs arriving from other servers (in transactions): the signing keys are fetched, the room
//! writer checks and stores the event, and when its prev events are unknown here the gap is
//! filled first through `/get_missing_events` at the sending server (bounded: one round of at
//! most [`MISSING_EVENTS_LIMIT`] events, each accepted oldest first, then the event is retried).
//! When that can't close the gap, the state at the missing prev events is fetched
//! (`/state_ids`, then `/event` for what is not stored here, bounded) and the event checked
//! against it.

use ruma::{
    CanonicalJsonObject, CanonicalJsonValue, EventId, OwnedEventId, RoomId, ServerName, UInt,
    api::federation::event::{
        get_event::v1 as get_event, get_missing_events::v1 as get_missing_events,
        get_room_state_ids::v1 as get_room_state_ids,
    },
};

use accord_room::PendingWrites;

use crate::{Error, Result, Services};

/// How many missing events one gap-filling request asks for.
const MISSING_EVENTS_LIMIT: u32 = 50;
/// How many still-missing prev events of one event get their state fetched.
const MAX_PREVS_WITH_STATE: usize = 3;
/// Most events fetched with `/event` to learn the state at one missing event.
const MAX_STATE_FETCH: usize = 1000;
/// `/event` requests in flight at once.
const FETCH_CONCURRENCY: usize = 8;

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
        self.forget_devices_of_joining_user(&object);
        let missing = match self.accept_pdu(origin, room_id, object.clone(), pending).await? {
            Ok(event_id) => return Ok(event_id),
            Err(missing) => missing,
        };
        tracing::info!(%origin, room = %room_id, ?missing, "filling a gap with /get_missing_events");
        self.fill_gap(origin, room_id, &object, pending).await?;
        // The state at a missing event is asked for only for events this server pulled (in
        // `fill_gap`), never for one pushed to it: a pushed event whose gap stays open after
        // /get_missing_events is refused, as Synapse refuses it (Complement's
        // TestOutboundFederationIgnoresMissingEventWithBadJSONForRoomVersion6 and
        // TestCorruptedAuthChain check which requests a server makes).
        self.accept_pdu(origin, room_id, object, pending)
            .await?
            .map_err(gap_error)
    }

    /// Learns the state at `prev` from `origin` (`/state_ids`, then `/event` for each event
    /// not stored here, at most [`MAX_STATE_FETCH`]) and stores `prev` with it.
    async fn fetch_state_at(&self, origin: &ServerName, room_id: &RoomId, prev: &EventId) -> Result<()> {
        use futures::StreamExt;

        let federation = self.federation_for("Missing state")?;
        let rooms = self.rooms.rooms();
        let ids = federation
            .client()
            .send(
                origin,
                get_room_state_ids::Request::new(prev.to_owned(), room_id.to_owned()),
            )
            .await
            .map_err(|err| Error::forbidden(format!("{origin} did not answer /state_ids for {prev}: {err}")))?;
        let mut unknown = std::collections::BTreeSet::new();
        for id in ids.pdu_ids.iter().chain(&ids.auth_chain_ids) {
            if rooms.db().get_short_event_id(id)?.is_none() {
                unknown.insert(id.clone());
            }
        }
        if unknown.len() > MAX_STATE_FETCH {
            return Err(Error::forbidden(format!(
                "the state at {prev} needs {} events fetched, more than {MAX_STATE_FETCH}",
                unknown.len()
            )));
        }
        let fetch = |event_id: OwnedEventId| async move {
            let response = federation
                .client()
                .send(origin, get_event::Request::new(event_id.clone()))
                .await
                .map_err(|err| Error::forbidden(format!("{origin} did not give event {event_id}: {err}")))?;
            serde_json::from_str::<CanonicalJsonObject>(response.pdu.get())
                .map_err(|err| Error::bad_json(format!("{origin} sent an unreadable event {event_id}: {err}")))
        };
        // An event the server can't give is left out, and with it whatever is built on it (the
        // room writer drops those); the rest of the state is still usable (Synapse does the
        // same; Complement's TestCorruptedAuthChain serves an auth chain with a hole).
        let fetched: Vec<CanonicalJsonObject> = futures::stream::iter(unknown.into_iter().map(fetch))
            .buffer_unordered(FETCH_CONCURRENCY)
            .filter_map(|result| async move {
                result
                    .inspect_err(|err| tracing::info!(%err, "an event of the state at a missing event is left out"))
                    .ok()
            })
            .collect()
            .await;
        let prev_json = fetch(prev.to_owned()).await?;
        let rules = self.signing_rules(room_id);
        let keys = federation
            .signing_keys_of_all(&fetched.iter().chain([&prev_json]).collect::<Vec<_>>(), &rules)
            .await
            .map_err(|err| Error::forbidden(format!("signing keys unavailable: {err}")))?;
        rooms
            .store_with_state(room_id, prev_json, &ids.pdu_ids, fetched, &keys)
            .await?;
        Ok(())
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
        // `latest_events` are events the origin has, whose ancestors we lack (spec): the event
        // itself. Its prev events would be skipped by the origin, the very ones we miss.
        let event_id = accord_room::event_id_of(event, &self.signing_rules(room_id))
            .map_err(|err| Error::bad_json(format!("the event's id can't be computed: {err}")))?;
        let latest = vec![event_id];
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
            if let Err(err) = self.accept_pulled(origin, room_id, object, pending).await {
                tracing::info!(%origin, room = %room_id, %err, "missing event refused");
            }
        }
        Ok(())
    }

    /// Accepts an event pulled with /get_missing_events. If its own prev events are unknown
    /// (the gap was longer than the answer), the state at them is fetched (`/state_ids` for
    /// each missing prev) and stored, so the event can be placed after them.
    async fn accept_pulled(
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
        tracing::info!(%origin, room = %room_id, ?missing, "pulled event after a gap; fetching the state at its prev events");
        for prev in missing.iter().take(MAX_PREVS_WITH_STATE) {
            self.fetch_state_at(origin, room_id, prev).await?;
        }
        self.accept_pdu(origin, room_id, object, pending)
            .await?
            .map_err(gap_error)
    }
}

fn gap_error(missing: Vec<OwnedEventId>) -> Error {
    Error::bad_json(format!("prev events unknown here and not fetched: {missing:?}"))
}
