//! THE room writer: builds, hashes and signs local PDUs, authorizes them with the room
//! version's rules against the state before them, and persists each event with everything it
//! changes in one atomic batch. Also answers state questions (state at an event, current state).
//!
//! Invariants: only this crate writes room events, state and timeline; every write happens
//! while holding the room's lock ([`RoomGuard`]), so there is one writer per room and rooms
//! proceed in parallel. No HTTP types here.

mod acl;
mod backfill;
mod build;
mod durable;
mod error;
mod gap_fill;
mod history;
mod inbound;
mod membership_records;
mod missing_state;
mod pdu_format;
mod persist;
mod prune;
mod relations;
mod relay;
mod remote;
mod remote_state;
mod resolve;
mod state;
mod unserved;
mod versions;

use accord_core::ServerIdentity;
use accord_db::Db;

pub use accord_db::rooms::{RoomBatch, RoomGuard};
pub use acl::acl_allows;
pub use build::{PduTemplate, TxnInfo, event_id_of};
pub use durable::PendingWrites;
pub use error::{Error, Result};
pub use gap_fill::GapFill;
pub use membership_records::Forget;
pub use pdu_format::check_received_pdu_format;
pub use relations::relation_of;
pub use remote::JoinedRoomState;
pub use state::RoomState;
pub use versions::{SUPPORTED_ROOM_VERSIONS, rules_for};

/// Room writing and reading. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Rooms {
    db: Db,
    identity: ServerIdentity,
    state: state::StateCache,
    /// Bumped when events are queued for other servers; the sender waits on it.
    outbound_wake: std::sync::Arc<tokio::sync::watch::Sender<u64>>,
}

impl Rooms {
    /// Room services over `db`, signing as `identity`.
    pub fn new(db: Db, identity: ServerIdentity) -> Self {
        Self {
            db,
            identity,
            state: state::StateCache::default(),
            outbound_wake: std::sync::Arc::new(tokio::sync::watch::Sender::new(0)),
        }
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// This server's identity.
    pub fn identity(&self) -> &ServerIdentity {
        &self.identity
    }

    /// A receiver that changes when events are queued for other servers.
    pub fn outbound_queued(&self) -> tokio::sync::watch::Receiver<u64> {
        self.outbound_wake.subscribe()
    }

    /// Waits for the room's lock: the proof every write needs.
    pub async fn lock(&self, room_id: &ruma::RoomId) -> RoomGuard {
        self.db.lock_room(room_id).await
    }
}
