//! Rooms: events and their short ids, state snapshots, timeline and stream, extremities,
//! memberships, transaction ids, aliases and the directory.
//!
//! The writers of a room's tables only queue into a [`RoomBatch`], which only the room's
//! [`RoomGuard`] makes (see `locks`); `accord-room` is the single writer per room and commits
//! each operation's batch while holding the room lock.

mod aliases;
mod backfill;
mod blocks;
mod event_times;
mod events;
mod locks;
mod members;
mod purge;
mod purge_marks;
mod receipts;
mod relations;
mod remote_invites;
mod short;
mod snapshots;
mod timeline;
mod timeline_feed;
mod txn;

pub use aliases::AliasRecord;
pub(crate) use backfill::BackfillFloor;
pub use backfill::LIVE_STREAM_START;
pub use blocks::RoomBlock;
pub use event_times::TimedEvent;
pub(crate) use event_times::index_existing as index_existing_event_times;
pub use events::{EventMeta, RoomMeta};
pub(crate) use locks::RoomLocks;
pub use locks::{RoomBatch, RoomGuard};
pub use members::MembershipRecord;
pub use purge::PurgedRoom;
pub use purge_marks::RoomPurgeMark;
pub use receipts::{Receipt, ReceiptSlot};
pub(crate) use relations::index_existing as index_existing_relations;
pub use relations::{Relation, RelationRecord, ThreadActivity};
pub use remote_invites::RemoteInvite;
pub(crate) use short::decode_u64 as decode_position;
pub use short::{ShortEventId, ShortStateHash, ShortStateKey};
pub(crate) use short::{ShortIdCounter, decode_u64 as decode_count};
pub use snapshots::{StateMap, StateSnapshot};
pub use timeline::STREAM_STEP;
pub(crate) use timeline::Stream;
pub use timeline::StreamTicket;
