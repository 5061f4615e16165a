//! `Pdu`: the parsed form of a stored persistent data unit. The canonical JSON as signed is the
//! source of truth (stored byte for byte); this struct is a cache for authorization, state
//! resolution and rendering to clients.

use ruma::{
    CanonicalJsonObject, MilliSecondsSinceUnixEpoch, OwnedEventId, OwnedRoomId, OwnedUserId, RoomId, UInt, UserId,
    events::TimelineEventType, events::room::member::MembershipState,
};
use serde::Deserialize;
use serde_json::{Map, Value, value::RawValue};

/// A PDU's fields, as the authorization rules and clients need them.
#[derive(Debug, Clone)]
pub struct Pdu {
    /// The event id (the reference hash for room versions 3+).
    pub event_id: OwnedEventId,
    /// The room; for v12 create events (which carry none) derived from the event id.
    pub room_id: OwnedRoomId,
    /// Who sent it.
    pub sender: OwnedUserId,
    /// When its origin server says it was sent.
    pub origin_server_ts: MilliSecondsSinceUnixEpoch,
    /// Event type.
    pub kind: TimelineEventType,
    /// Event content, as sent.
    pub content: Box<RawValue>,
    /// State key, for state events.
    pub state_key: Option<String>,
    /// The events it follows in the room DAG.
    pub prev_events: Vec<OwnedEventId>,
    /// The state events that authorize it.
    pub auth_events: Vec<OwnedEventId>,
    /// The redacted event, for redactions (top-level before room version 11, in content since).
    pub redacts: Option<OwnedEventId>,
    /// Depth in the DAG.
    pub depth: UInt,
    /// Whether it failed authorization (kept for the DAG, never shown to clients).
    pub rejected: bool,
    /// Whether the JSON carries `room_id` (v12 create events don't, and must not).
    pub room_id_in_json: bool,
}

/// The JSON fields, before the ids known from outside are attached.
#[derive(Deserialize)]
struct Fields {
    room_id: Option<OwnedRoomId>,
    sender: OwnedUserId,
    origin_server_ts: MilliSecondsSinceUnixEpoch,
    #[serde(rename = "type")]
    kind: TimelineEventType,
    content: Box<RawValue>,
    #[serde(default)]
    state_key: Option<String>,
    prev_events: Vec<EventRef>,
    auth_events: Vec<EventRef>,
    #[serde(default)]
    redacts: Option<OwnedEventId>,
    depth: UInt,
}

/// A reference to another event: an id (room versions 3+), or `[id, {hashes}]` (versions 1
/// and 2).
#[derive(Deserialize)]
#[serde(untagged)]
enum EventRef {
    Id(OwnedEventId),
    IdWithHashes(OwnedEventId, serde::de::IgnoredAny),
}

impl EventRef {
    fn into_id(self) -> OwnedEventId {
        match self {
            Self::Id(id) | Self::IdWithHashes(id, _) => id,
        }
    }
}

/// Why stored or received JSON is not a usable PDU.
#[derive(Debug, thiserror::Error)]
#[error("invalid PDU: {0}")]
pub struct PduError(pub String);

impl Pdu {
    /// Parses a PDU whose event id is already known (computed or stored beside it).
    ///
    /// `room_id` is used when the JSON has none (room version 12 create events).
    pub fn from_canonical(
        event_id: OwnedEventId,
        room_id: &RoomId,
        json: &CanonicalJsonObject,
    ) -> Result<Self, PduError> {
        let text = serde_json::to_string(json).map_err(|err| PduError(err.to_string()))?;
        let fields: Fields = serde_json::from_str(&text).map_err(|err| PduError(err.to_string()))?;
        let mut redacts = fields.redacts;
        if redacts.is_none() && fields.kind == TimelineEventType::RoomRedaction {
            // Room version 11 moved `redacts` into the content.
            redacts = serde_json::from_str::<Map<String, Value>>(fields.content.get())
                .ok()
                .and_then(|content| content.get("redacts").and_then(Value::as_str).map(str::to_owned))
                .and_then(|id| OwnedEventId::try_from(id).ok());
        }
        Ok(Self {
            event_id,
            room_id_in_json: fields.room_id.is_some(),
            room_id: fields.room_id.unwrap_or_else(|| room_id.to_owned()),
            sender: fields.sender,
            origin_server_ts: fields.origin_server_ts,
            kind: fields.kind,
            content: fields.content,
            state_key: fields.state_key,
            prev_events: fields.prev_events.into_iter().map(EventRef::into_id).collect(),
            auth_events: fields.auth_events.into_iter().map(EventRef::into_id).collect(),
            redacts,
            depth: fields.depth,
            rejected: false,
        })
    }

    /// Whether this is a state event.
    pub fn is_state(&self) -> bool {
        self.state_key.is_some()
    }

    /// The content as a JSON value.
    pub fn content_value(&self) -> Value {
        serde_json::from_str(self.content.get()).unwrap_or(Value::Null)
    }

    /// `content.membership`, when there is one (member events).
    pub fn membership(&self) -> Option<MembershipState> {
        self.content_value()
            .get("membership")
            .and_then(|m| m.as_str())
            .map(MembershipState::from)
    }

    /// For a member event about a valid user id: that user and their membership (`leave` when
    /// the content names none, as the auth rules treat it).
    pub fn member_change(&self) -> Option<(ruma::OwnedUserId, MembershipState)> {
        if self.kind != ruma::events::TimelineEventType::RoomMember {
            return None;
        }
        let user = self
            .state_key
            .as_deref()
            .and_then(|key| ruma::UserId::parse(key).ok())?;
        Some((user, self.membership().unwrap_or(MembershipState::Leave)))
    }

    /// The event in the client-server format (room events), with `unsigned` as given.
    pub fn to_client_event(&self, unsigned: Map<String, Value>) -> Value {
        let mut event = Map::new();
        event.insert("content".to_owned(), self.content_value());
        event.insert("event_id".to_owned(), Value::String(self.event_id.to_string()));
        event.insert(
            "origin_server_ts".to_owned(),
            Value::from(u64::from(self.origin_server_ts.0)),
        );
        event.insert("room_id".to_owned(), Value::String(self.room_id.to_string()));
        event.insert("sender".to_owned(), Value::String(self.sender.to_string()));
        event.insert("type".to_owned(), Value::String(self.kind.to_string()));
        if let Some(state_key) = &self.state_key {
            event.insert("state_key".to_owned(), Value::String(state_key.clone()));
        }
        if let Some(redacts) = &self.redacts {
            event.insert("redacts".to_owned(), Value::String(redacts.to_string()));
        }
        if !unsigned.is_empty() {
            event.insert("unsigned".to_owned(), Value::Object(unsigned));
        }
        Value::Object(event)
    }
}

impl ruma::state_res::Event for Pdu {
    type Id = OwnedEventId;

    fn event_id(&self) -> &Self::Id {
        &self.event_id
    }

    fn room_id(&self) -> Option<&RoomId> {
        self.room_id_in_json.then_some(&*self.room_id)
    }

    fn sender(&self) -> &UserId {
        &self.sender
    }

    fn origin_server_ts(&self) -> MilliSecondsSinceUnixEpoch {
        self.origin_server_ts
    }

    fn event_type(&self) -> &TimelineEventType {
        &self.kind
    }

    fn content(&self) -> &RawValue {
        &self.content
    }

    fn state_key(&self) -> Option<&str> {
        self.state_key.as_deref()
    }

    fn prev_events(&self) -> Box<dyn DoubleEndedIterator<Item = &Self::Id> + '_> {
        Box::new(self.prev_events.iter())
    }

    fn auth_events(&self) -> Box<dyn DoubleEndedIterator<Item = &Self::Id> + '_> {
        Box::new(self.auth_events.iter())
    }

    fn redacts(&self) -> Option<&Self::Id> {
        self.redacts.as_ref()
    }

    fn rejected(&self) -> bool {
        self.rejected
    }
}
