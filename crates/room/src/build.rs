//! Building local events: prev events from the forward extremities, auth events chosen by the
//! spec's rules, depth, content hash, signature, event id = reference hash; then the
//! authorization checks against the state before the event.

use accord_core::{Pdu, time::now_millis};
use ruma::{
    CanonicalJsonObject, CanonicalJsonValue, EventId, OwnedDeviceId, OwnedEventId, OwnedRoomId, RoomId, RoomVersionId,
    UserId,
    events::{StateEventType, TimelineEventType},
    room_version_rules::{EventIdFormatVersion, EventsReferenceFormatVersion, RoomVersionRules},
    signatures::{hash_and_sign_event, reference_hash},
    state_res,
};
use serde_json::Value;

use crate::{Error, Result, RoomGuard, Rooms, persist::Durability, state::RoomState, versions::rules_for};

/// Most prev events one local event references (the rest stay extremities).
const MAX_PREV_EVENTS: usize = 20;

/// What a local event says; the room writer adds everything else.
#[derive(Debug, Clone)]
pub struct PduTemplate {
    /// Event type.
    pub kind: TimelineEventType,
    /// Content.
    pub content: Value,
    /// State key, for state events.
    pub state_key: Option<String>,
    /// For redactions: the redacted event.
    pub redacts: Option<OwnedEventId>,
    /// `origin_server_ts` as an application service set it (timestamp massaging, `?ts=`);
    /// `None`: now.
    pub origin_server_ts: Option<u64>,
}

impl PduTemplate {
    /// A state event.
    pub fn state(kind: StateEventType, state_key: impl Into<String>, content: Value) -> Self {
        Self {
            kind: kind.to_string().into(),
            content,
            state_key: Some(state_key.into()),
            redacts: None,
            origin_server_ts: None,
        }
    }

    /// A message-like event.
    pub fn message(kind: TimelineEventType, content: Value) -> Self {
        Self {
            kind,
            content,
            state_key: None,
            redacts: None,
            origin_server_ts: None,
        }
    }

    /// This template with `origin_server_ts` set, when one is given.
    pub fn at(mut self, origin_server_ts: Option<u64>) -> Self {
        self.origin_server_ts = origin_server_ts;
        self
    }
}

/// The client transaction that caused an event, for idempotent retries.
#[derive(Debug, Clone)]
pub struct TxnInfo {
    /// The sending device.
    pub device_id: OwnedDeviceId,
    /// The endpoint the id is scoped to, without the id: `{roomId}/send/{eventType}` or
    /// `{roomId}/redact/{eventId}`.
    pub endpoint: String,
    /// The client's transaction id.
    pub txn_id: String,
}

fn canonical(value: Value) -> Result<CanonicalJsonValue> {
    CanonicalJsonValue::try_from(value)
        .map_err(|err| Error::InvalidEvent(format!("content is not canonical JSON: {err}")))
}

impl Rooms {
    /// Builds, signs, authorizes and persists a local event in a room that exists, synced
    /// before returning. For a series of events under one lock (room creation).
    pub fn send(
        &self,
        guard: &RoomGuard,
        sender: &UserId,
        template: PduTemplate,
        txn: Option<TxnInfo>,
    ) -> Result<OwnedEventId> {
        let (event_id, _) = self.send_with(guard, sender, template, txn, Durability::Synced)?;
        Ok(event_id)
    }

    /// Like [`Rooms::send`], but releases the room lock before the fsync, so concurrent
    /// senders in a room share fsyncs (group commit). Returns once the event is durable; it
    /// becomes visible to `/sync` only then.
    pub async fn send_and_release(
        &self,
        guard: RoomGuard,
        sender: &UserId,
        template: PduTemplate,
        txn: Option<TxnInfo>,
    ) -> Result<OwnedEventId> {
        let (event_id, ticket) = self.send_with(&guard, sender, template, txn, Durability::Deferred)?;
        drop(guard);
        let pending = crate::PendingWrites::default();
        pending.add(ticket);
        self.make_durable(pending).await?;
        Ok(event_id)
    }

    fn send_with(
        &self,
        guard: &RoomGuard,
        sender: &UserId,
        template: PduTemplate,
        txn: Option<TxnInfo>,
        durability: Durability,
    ) -> Result<(OwnedEventId, Option<accord_db::rooms::StreamTicket>)> {
        let room_id = guard.room_id().to_owned();
        let before = self.current_state(&room_id)?;
        let rules = rules_for(&before.version)?;
        let (prev_events, depth) = self.prev_events_and_depth(&room_id)?;
        let (object, pdu) = self.build(&room_id, &before, &rules, sender, template, prev_events, depth)?;
        self.authorize(&rules, &pdu, &before)?;
        let ticket = self.append(
            crate::persist::JoinedBatch::plain(guard.batch()),
            &pdu,
            object,
            Some(&before),
            txn,
            durability,
        )?;
        Ok((pdu.event_id, ticket))
    }

    /// Builds, signs and authorizes a local event without storing it: an invite of a remote
    /// user must first be countersigned by the invitee's server. Returns the room version too.
    pub async fn prepare(
        &self,
        room_id: &RoomId,
        sender: &UserId,
        template: PduTemplate,
    ) -> Result<(RoomVersionId, CanonicalJsonObject, OwnedEventId)> {
        let _guard = self.lock(room_id).await;
        let before = self.current_state(room_id)?;
        let rules = rules_for(&before.version)?;
        let (prev_events, depth) = self.prev_events_and_depth(room_id)?;
        let (object, pdu) = self.build(room_id, &before, &rules, sender, template, prev_events, depth)?;
        self.authorize(&rules, &pdu, &before)?;
        Ok((before.version, object, pdu.event_id))
    }

    /// The forward extremities a new event follows (at most [`MAX_PREV_EVENTS`]) and its depth.
    pub(crate) fn prev_events_and_depth(&self, room_id: &RoomId) -> Result<(Vec<OwnedEventId>, u64)> {
        let mut prev_events = self.db.extremities(room_id)?;
        prev_events.sort();
        prev_events.truncate(MAX_PREV_EVENTS);
        let mut depth = 0u64;
        for prev in &prev_events {
            if let Some(pdu) = self.pdu_by_id(prev)? {
                depth = depth.max(u64::from(pdu.depth));
            }
        }
        Ok((prev_events, depth + 1))
    }

    /// Creates a room with its `m.room.create` event; returns the room id and its lock.
    pub async fn create(
        &self,
        creator: &UserId,
        version: &RoomVersionId,
        content: Value,
    ) -> Result<(OwnedRoomId, RoomGuard)> {
        let rules = rules_for(version)?;
        // Auth rule 1.3, which ruma leaves to the caller: a `room_version` in the content must be
        // recognised; Accord also requires it to be the version the room is created with.
        if let Some(claimed) = content.get("room_version") {
            let claimed = claimed.as_str().and_then(|v| RoomVersionId::try_from(v).ok());
            if claimed.as_ref() != Some(version) || version.rules().is_none() {
                return Err(Error::Unauthorized(format!(
                    "m.room.create content.room_version must be {version}"
                )));
            }
        }
        let template = PduTemplate::state(StateEventType::RoomCreate, "", content);
        let mut object = self.event_object(None, &rules, creator, &template, Vec::new(), Vec::new(), 1)?;
        let room_id = if rules.authorization.room_create_event_id_as_room_id {
            self.sign_event(&mut object, &rules)?;
            let hash = reference_hash(&object, &rules).map_err(|err| Error::Signing(err.to_string()))?;
            OwnedRoomId::try_from(format!("!{hash}")).map_err(|err| Error::Signing(err.to_string()))?
        } else {
            let local: String = rand::Rng::sample_iter(rand::thread_rng(), &rand::distributions::Alphanumeric)
                .take(18)
                .map(char::from)
                .collect();
            let room_id = OwnedRoomId::try_from(format!("!{local}:{}", self.identity.server_name))
                .map_err(|err| Error::InvalidEvent(err.to_string()))?;
            object.insert("room_id".to_owned(), CanonicalJsonValue::String(room_id.to_string()));
            self.sign_event(&mut object, &rules)?;
            room_id
        };
        let guard = self.lock(&room_id).await;
        if self.exists(&room_id)? {
            return Err(Error::InvalidEvent("room id collision; try again".to_owned()));
        }
        let event_id = event_id_of(&object, &rules)?;
        let pdu =
            Pdu::from_canonical(event_id, &room_id, &object).map_err(|err| Error::InvalidEvent(err.to_string()))?;
        state_res::check_state_independent_auth_rules(&rules.authorization, &pdu, |id: &EventId| {
            self.pdu_by_id(id).ok().flatten()
        })
        .map_err(Error::Unauthorized)?;
        self.append_create(&guard, &pdu, object, version)?;
        Ok((room_id, guard))
    }

    #[allow(clippy::too_many_arguments)]
    fn build(
        &self,
        room_id: &RoomId,
        before: &RoomState,
        rules: &RoomVersionRules,
        sender: &UserId,
        template: PduTemplate,
        prev_events: Vec<OwnedEventId>,
        depth: u64,
    ) -> Result<(CanonicalJsonObject, Pdu)> {
        let content_raw =
            serde_json::value::to_raw_value(&template.content).map_err(|err| Error::InvalidEvent(err.to_string()))?;
        let auth_types = state_res::auth_types_for_event(
            &template.kind,
            sender,
            template.state_key.as_deref(),
            &content_raw,
            &rules.authorization,
        )
        .map_err(Error::InvalidEvent)?;
        let mut auth_events = Vec::new();
        for (kind, key) in auth_types {
            if let Some(short) = self.state_event_id(before, &kind.to_string(), &key)? {
                auth_events.push(self.db.event_id_of(short)?);
            }
        }
        let mut object = self.event_object(Some(room_id), rules, sender, &template, prev_events, auth_events, depth)?;
        self.sign_event(&mut object, rules)?;
        let event_id = event_id_of(&object, rules)?;
        let pdu =
            Pdu::from_canonical(event_id, room_id, &object).map_err(|err| Error::InvalidEvent(err.to_string()))?;
        Ok((object, pdu))
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn event_object(
        &self,
        room_id: Option<&RoomId>,
        rules: &RoomVersionRules,
        sender: &UserId,
        template: &PduTemplate,
        prev_events: Vec<OwnedEventId>,
        auth_events: Vec<OwnedEventId>,
        depth: u64,
    ) -> Result<CanonicalJsonObject> {
        let prev_events = self.event_refs(rules, prev_events)?;
        let auth_events = self.event_refs(rules, auth_events)?;
        let mut content = template.content.clone();
        let mut object = CanonicalJsonObject::new();
        if let Some(redacts) = &template.redacts {
            if rules.redaction.keep_room_redaction_redacts {
                if let Value::Object(map) = &mut content {
                    map.insert("redacts".to_owned(), Value::String(redacts.to_string()));
                }
            } else {
                object.insert("redacts".to_owned(), CanonicalJsonValue::String(redacts.to_string()));
            }
        }
        if rules.event_id_format == EventIdFormatVersion::V1 {
            // Room versions 1 and 2: the origin server chooses the event id.
            let local: String = rand::Rng::sample_iter(rand::thread_rng(), &rand::distributions::Alphanumeric)
                .take(18)
                .map(char::from)
                .collect();
            object.insert(
                "event_id".to_owned(),
                CanonicalJsonValue::String(format!("${local}:{}", self.identity.server_name)),
            );
        }
        object.insert("auth_events".to_owned(), auth_events);
        object.insert("content".to_owned(), canonical(content)?);
        object.insert("depth".to_owned(), canonical(Value::from(depth))?);
        let ts = template.origin_server_ts.unwrap_or_else(now_millis);
        object.insert("origin_server_ts".to_owned(), canonical(Value::from(ts))?);
        object.insert("prev_events".to_owned(), prev_events);
        if let Some(room_id) = room_id {
            object.insert("room_id".to_owned(), CanonicalJsonValue::String(room_id.to_string()));
        }
        object.insert("sender".to_owned(), CanonicalJsonValue::String(sender.to_string()));
        if let Some(state_key) = &template.state_key {
            object.insert("state_key".to_owned(), CanonicalJsonValue::String(state_key.clone()));
        }
        object.insert("type".to_owned(), CanonicalJsonValue::String(template.kind.to_string()));
        Ok(object)
    }

    /// Adds this server's content hash and signature to `object` (its own events, and
    /// countersignatures on other servers' invites and restricted joins).
    pub fn sign_event(&self, object: &mut CanonicalJsonObject, rules: &RoomVersionRules) -> Result<()> {
        hash_and_sign_event(
            self.identity.server_name.as_str(),
            self.identity.key.as_ref(),
            object,
            &rules.redaction,
        )
        .map_err(|err| match err {
            ruma::signatures::JsonError::PduTooLarge => Error::TooLarge,
            other => Error::Signing(other.to_string()),
        })
    }

    /// Event references in the room version's format: plain ids, or `[id, {"sha256": hash}]`
    /// with the referenced event's reference hash (versions 1 and 2).
    fn event_refs(&self, rules: &RoomVersionRules, ids: Vec<OwnedEventId>) -> Result<CanonicalJsonValue> {
        let mut refs = Vec::with_capacity(ids.len());
        for id in ids {
            let reference = match rules.events_reference_format {
                EventsReferenceFormatVersion::V1 => {
                    let short = self
                        .db
                        .get_short_event_id(&id)?
                        .ok_or_else(|| Error::InvalidEvent(format!("unknown event {id}")))?;
                    let json = self
                        .db
                        .get_pdu_json(short)?
                        .ok_or_else(|| Error::InvalidEvent(format!("event {id} not stored")))?;
                    let hash = reference_hash(&json, rules).map_err(|err| Error::Signing(err.to_string()))?;
                    let mut hashes = CanonicalJsonObject::new();
                    hashes.insert("sha256".to_owned(), CanonicalJsonValue::String(hash));
                    CanonicalJsonValue::Array(vec![
                        CanonicalJsonValue::String(id.to_string()),
                        CanonicalJsonValue::Object(hashes),
                    ])
                }
                _ => CanonicalJsonValue::String(id.to_string()),
            };
            refs.push(reference);
        }
        Ok(CanonicalJsonValue::Array(refs))
    }

    /// Both halves of the spec's authorization rules: against the event's auth events, then
    /// against the state before it.
    pub(crate) fn authorize(&self, rules: &RoomVersionRules, pdu: &Pdu, before: &RoomState) -> Result<()> {
        state_res::check_state_independent_auth_rules(&rules.authorization, pdu, |id: &EventId| {
            self.pdu_by_id(id).ok().flatten()
        })
        .map_err(Error::Unauthorized)?;
        state_res::check_state_dependent_auth_rules(&rules.authorization, pdu, |kind: &StateEventType, key: &str| {
            self.state_event(before, kind, key).ok().flatten()
        })
        .map_err(Error::Unauthorized)
    }
}

/// An event's id: carried in the event for room versions 1 and 2, its reference hash after.
pub fn event_id_of(object: &CanonicalJsonObject, rules: &RoomVersionRules) -> Result<OwnedEventId> {
    if rules.event_id_format == EventIdFormatVersion::V1 {
        return match object.get("event_id") {
            Some(CanonicalJsonValue::String(id)) => {
                OwnedEventId::try_from(id.as_str()).map_err(|err| Error::InvalidEvent(err.to_string()))
            }
            _ => Err(Error::InvalidEvent(
                "room version 1/2 event without event_id".to_owned(),
            )),
        };
    }
    let hash = reference_hash(object, rules).map_err(|err| Error::InvalidEvent(err.to_string()))?;
    OwnedEventId::try_from(format!("${hash}")).map_err(|err| Error::InvalidEvent(err.to_string()))
}
