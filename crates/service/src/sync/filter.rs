//! The parts of a sync filter Accord honours, parsed from a stored filter or inline JSON.

use serde::Deserialize;

use crate::rooms::EventFilter;

/// `room.timeline` / `room.state` / `room.account_data` sections.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RoomEventSection {
    /// Timeline size (default 10).
    #[serde(default)]
    pub limit: Option<usize>,
    /// Event filters.
    #[serde(flatten)]
    pub events: EventFilter,
    /// Timeline only: count unread notifications per thread (spec "Threaded read receipts").
    #[serde(default)]
    pub unread_thread_notifications: bool,
}

/// `room`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RoomSection {
    /// Only these rooms.
    #[serde(default)]
    pub rooms: Option<Vec<String>>,
    /// Not these rooms.
    #[serde(default)]
    pub not_rooms: Vec<String>,
    /// Include rooms the user left.
    #[serde(default)]
    pub include_leave: bool,
    /// Timeline filter.
    #[serde(default)]
    pub timeline: RoomEventSection,
    /// State filter (`lazy_load_members` lives here).
    #[serde(default)]
    pub state: RoomEventSection,
    /// Room account data filter.
    #[serde(default)]
    pub account_data: RoomEventSection,
}

/// A sync filter.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SyncFilter {
    /// Room sections.
    #[serde(default)]
    pub room: RoomSection,
    /// Global account data filter.
    #[serde(default)]
    pub account_data: RoomEventSection,
    /// Presence filter.
    #[serde(default)]
    pub presence: RoomEventSection,
}

impl SyncFilter {
    /// Whether a room passes `rooms`/`not_rooms`.
    pub fn room_allowed(&self, room_id: &str) -> bool {
        self.room
            .rooms
            .as_ref()
            .is_none_or(|rooms| rooms.iter().any(|r| r == room_id))
            && !self.room.not_rooms.iter().any(|r| r == room_id)
    }

    /// Timeline length.
    pub fn timeline_limit(&self) -> usize {
        self.room.timeline.limit.unwrap_or(10).clamp(1, 500)
    }
}
