//! Room use cases for local clients: creating rooms, sending, membership, reading history and
//! state, aliases and the directory. `accord-room` does the writing; this layer decides who may
//! see what and turns room errors into Matrix errors.

mod admin_actions;
mod admin_view;
mod create;
mod directory;
pub(crate) mod hierarchy;
pub mod jump_to_date;
mod membership;
pub(crate) mod read;
pub mod receipts;
mod relations;
mod render;
mod send;
mod shadow_ban;
mod thread_subscriptions;
mod typing;
pub mod unread;
pub mod upgrade;
mod visibility;

use std::sync::Arc;

use accord_core::Config;
use ruma::api::error::ErrorKind;

use crate::{AuthedUser, Error, Result};

pub use accord_room::{PendingWrites, Rooms, SUPPORTED_ROOM_VERSIONS, event_id_of};
pub use admin_actions::ShutdownReport;
pub use admin_view::{AdminMessages, AdminRoom};
pub use create::CreateRoom;
pub use directory::PublicRoomsPage;
pub use hierarchy::{HierarchyNode, HierarchyPage, HierarchyQuery, HierarchyRoom};
pub(crate) use hierarchy::{child_in as hierarchy_child, followed as hierarchy_follows, via_of as hierarchy_via};
pub use read::{ContextPage, EventFilter, MessagesPage, Pagination, parse_token};
pub use relations::{RelationsPage, RelationsQuery, ThreadsPage};

/// Room operations for clients. Cheap to clone.
#[derive(Clone, Debug)]
pub struct RoomService {
    config: Arc<Config>,
    rooms: Rooms,
    /// Who is typing where.
    typing: Arc<parking_lot::Mutex<typing::TypingState>>,
    /// Turns true at shutdown; background timers (typing expiry) stop, releasing the database.
    stopping: Arc<tokio::sync::watch::Sender<bool>>,
    /// Running unread counts per (user, room).
    unread: Arc<
        parking_lot::Mutex<std::collections::HashMap<(ruma::OwnedUserId, ruma::OwnedRoomId), unread::CachedUnread>>,
    >,
    /// Rooms being upgraded right now.
    upgrades: Arc<upgrade::UpgradesInFlight>,
    /// Member events each device was sent by lazy-loading syncs.
    pub(crate) lazy_members: Arc<crate::sync::LazyMembers>,
    /// Events users send count against `rate_limits.message`.
    pub(crate) rate_limits: crate::rate_limits::RateLimits,
}

impl RoomService {
    pub(crate) fn new(config: Arc<Config>, rooms: Rooms, rate_limits: crate::rate_limits::RateLimits) -> Self {
        Self {
            rate_limits,
            config,
            rooms,
            typing: Arc::default(),
            stopping: Arc::new(tokio::sync::watch::Sender::new(false)),
            unread: Arc::default(),
            upgrades: Arc::default(),
            lazy_members: Arc::default(),
        }
    }

    /// What every event a user sends passes: not suspended, and within `class`'s rate.
    pub(crate) fn may_send(&self, user: &AuthedUser, class: crate::rate_limits::RateClass) -> Result<()> {
        crate::account_state::ensure_not_suspended(self.rooms.db(), &user.user_id)?;
        self.rate_limits.check_user(class, user)
    }

    /// Stops background timers so nothing keeps the database open after shutdown.
    pub fn stop_background(&self) {
        self.stopping.send_replace(true);
    }

    /// The room writer underneath, for sync and tests.
    pub fn rooms(&self) -> &Rooms {
        &self.rooms
    }
}

impl From<accord_room::Error> for Error {
    fn from(err: accord_room::Error) -> Self {
        use accord_room::Error as RoomError;
        match err {
            RoomError::RoomNotFound(room) => Error::not_found(format!("Room {room} not found")),
            RoomError::Unauthorized(reason) => {
                Error::forbidden(format!("Not allowed by the room's authorization rules: {reason}"))
            }
            RoomError::InvalidEvent(reason) => Error::bad_json(reason),
            err @ RoomError::MissingPrevEvents(_) => Error::bad_json(err.to_string()),
            RoomError::UnsupportedVersion(version) => Error::new(
                ErrorKind::UnsupportedRoomVersion,
                format!("Room version {version} is not supported by this server"),
            ),
            RoomError::Db(err) => Error::Db(err),
            err @ RoomError::TooLarge => Error::new(ErrorKind::TooLarge, err.to_string()),
            RoomError::Signing(reason) | RoomError::Internal(reason) => Error::Internal(reason),
        }
    }
}
