//! `/sync`'s JSON, written from ruma's typed response with one difference: every timeline
//! carries `limited`. ruma leaves `limited: false` out, which the spec allows, but Synapse
//! always sends it and Complement's TestSync requires it on every timeline
//! (`checkJoinFieldsExist`), so clients written against Synapse may rely on it. Only the
//! shells (response, rooms, room, timeline) are written here; every section inside them is
//! ruma's own serialization.

use std::collections::BTreeMap;

use axum::response::{IntoResponse, Response};
use ruma::{
    OwnedEventId, OwnedRoomId,
    api::client::sync::sync_events::{
        DeviceLists, UnreadNotificationsCount,
        v3::{
            Ephemeral, GlobalAccountData, InvitedRoom, JoinedRoom, KnockedRoom, LeftRoom, Presence, Response as Sync,
            RoomAccountData, RoomSummary, Rooms, State, Timeline, ToDevice,
        },
    },
    events::{AnySyncStateEvent, AnySyncTimelineEvent},
    serde::Raw,
};
use serde::Serialize;

use super::sync::StateAfterName;
use crate::ApiError;

/// The HTTP answer to a `/sync`, with `state_after` under the name the client asked with.
pub(crate) fn render((sync, name): (Sync, StateAfterName)) -> Response {
    match serde_json::to_vec(&SyncBody::of(&sync, name)) {
        Ok(body) => ([(http::header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(err) => ApiError::from(accord_service::Error::Internal(format!(
            "the sync response failed to serialize: {err}"
        )))
        .into_response(),
    }
}

#[derive(Serialize)]
struct SyncBody<'a> {
    next_batch: &'a str,
    #[serde(skip_serializing_if = "RoomsBody::is_empty")]
    rooms: RoomsBody<'a>,
    #[serde(skip_serializing_if = "Presence::is_empty")]
    presence: &'a Presence,
    #[serde(skip_serializing_if = "GlobalAccountData::is_empty")]
    account_data: &'a GlobalAccountData,
    #[serde(skip_serializing_if = "ToDevice::is_empty")]
    to_device: &'a ToDevice,
    #[serde(skip_serializing_if = "DeviceLists::is_empty")]
    device_lists: &'a DeviceLists,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    device_one_time_keys_count: &'a BTreeMap<ruma::OneTimeKeyAlgorithm, ruma::UInt>,
    #[serde(skip_serializing_if = "Option::is_none")]
    device_unused_fallback_key_types: &'a Option<Vec<ruma::OneTimeKeyAlgorithm>>,
}

impl<'a> SyncBody<'a> {
    fn of(sync: &'a Sync, name: StateAfterName) -> Self {
        Self {
            next_batch: &sync.next_batch,
            rooms: RoomsBody::of(&sync.rooms, name),
            presence: &sync.presence,
            account_data: &sync.account_data,
            to_device: &sync.to_device,
            device_lists: &sync.device_lists,
            device_one_time_keys_count: &sync.device_one_time_keys_count,
            device_unused_fallback_key_types: &sync.device_unused_fallback_key_types,
        }
    }
}

#[derive(Serialize)]
struct RoomsBody<'a> {
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    leave: BTreeMap<&'a OwnedRoomId, LeftRoomBody<'a>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    join: BTreeMap<&'a OwnedRoomId, JoinedRoomBody<'a>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    invite: &'a BTreeMap<OwnedRoomId, InvitedRoom>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    knock: &'a BTreeMap<OwnedRoomId, KnockedRoom>,
}

impl<'a> RoomsBody<'a> {
    fn of(rooms: &'a Rooms, name: StateAfterName) -> Self {
        Self {
            leave: rooms
                .leave
                .iter()
                .map(|(id, room)| (id, LeftRoomBody::of(room)))
                .collect(),
            join: rooms
                .join
                .iter()
                .map(|(id, room)| (id, JoinedRoomBody::of(room, name)))
                .collect(),
            invite: &rooms.invite,
            knock: &rooms.knock,
        }
    }

    fn is_empty(&self) -> bool {
        self.leave.is_empty() && self.join.is_empty() && self.invite.is_empty() && self.knock.is_empty()
    }
}

#[derive(Serialize)]
struct JoinedRoomBody<'a> {
    #[serde(skip_serializing_if = "RoomSummary::is_empty")]
    summary: &'a RoomSummary,
    #[serde(skip_serializing_if = "UnreadNotificationsCount::is_empty")]
    unread_notifications: &'a UnreadNotificationsCount,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    unread_thread_notifications: &'a BTreeMap<OwnedEventId, UnreadNotificationsCount>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timeline: Option<TimelineBody<'a>>,
    #[serde(flatten)]
    state: StateBody<'a>,
    #[serde(skip_serializing_if = "RoomAccountData::is_empty")]
    account_data: &'a RoomAccountData,
    #[serde(skip_serializing_if = "Ephemeral::is_empty")]
    ephemeral: &'a Ephemeral,
}

impl<'a> JoinedRoomBody<'a> {
    fn of(room: &'a JoinedRoom, name: StateAfterName) -> Self {
        Self {
            summary: &room.summary,
            unread_notifications: &room.unread_notifications,
            unread_thread_notifications: &room.unread_thread_notifications,
            timeline: TimelineBody::of(&room.timeline),
            state: StateBody::of(&room.state, name),
            account_data: &room.account_data,
            ephemeral: &room.ephemeral,
        }
    }
}

#[derive(Serialize)]
struct LeftRoomBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    timeline: Option<TimelineBody<'a>>,
    #[serde(flatten, skip_serializing_if = "is_before_and_empty")]
    state: &'a State,
    #[serde(skip_serializing_if = "RoomAccountData::is_empty")]
    account_data: &'a RoomAccountData,
}

impl<'a> LeftRoomBody<'a> {
    fn of(room: &'a LeftRoom) -> Self {
        Self {
            timeline: TimelineBody::of(&room.timeline),
            state: &room.state,
            account_data: &room.account_data,
        }
    }
}

/// A timeline with `limited` always written.
#[derive(Serialize)]
struct TimelineBody<'a> {
    limited: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    prev_batch: &'a Option<String>,
    events: &'a [Raw<AnySyncTimelineEvent>],
}

impl<'a> TimelineBody<'a> {
    /// `None` for a timeline with nothing in it, which is left out as ruma does.
    fn of(timeline: &'a Timeline) -> Option<Self> {
        (!timeline.is_empty()).then_some(Self {
            limited: timeline.limited,
            prev_batch: &timeline.prev_batch,
            events: &timeline.events,
        })
    }
}

/// A room's state section under its name: `state` (left out when empty), or `state_after`
/// (always written once asked for, MSC4222) under the name the client used.
#[derive(Serialize, Default)]
struct StateBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<EventsBody<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    state_after: Option<EventsBody<'a>>,
    #[serde(rename = "org.matrix.msc4222.state_after", skip_serializing_if = "Option::is_none")]
    unstable_state_after: Option<EventsBody<'a>>,
}

impl<'a> StateBody<'a> {
    fn of(state: &'a State, name: StateAfterName) -> Self {
        match state {
            State::Before(before) if before.is_empty() => Self::default(),
            State::Before(before) => Self {
                state: Some(EventsBody { events: &before.events }),
                ..Self::default()
            },
            State::After(after) if name == StateAfterName::Unstable => Self {
                unstable_state_after: Some(EventsBody { events: &after.events }),
                ..Self::default()
            },
            State::After(after) => Self {
                state_after: Some(EventsBody { events: &after.events }),
                ..Self::default()
            },
            // ruma's enum is open to forms a later version adds; Accord builds only these two.
            _ => Self::default(),
        }
    }
}

/// `{"events": [...]}`, the list always written.
#[derive(Serialize)]
struct EventsBody<'a> {
    events: &'a [Raw<AnySyncStateEvent>],
}

/// Empty `state` is left out (a left room's `state_after` too: Accord sends left rooms no state).
fn is_before_and_empty(state: &&State) -> bool {
    matches!(state, State::Before(events) if events.is_empty())
}
