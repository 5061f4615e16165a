//! Sliding sync connections: what each `(user, device, conn_id)` was sent, kept in memory.
//!
//! A `pos` names one snapshot of a connection: which rooms the client holds, up to which
//! stream position, with which `required_state`. A request answers relative to the snapshot
//! its `pos` names and stores a new one under a new `pos`; the snapshot it came from stays
//! until a request with the newer `pos` arrives, so a client that lost a response can repeat
//! its request. A request without `pos` starts the connection over and invalidates every
//! `pos` it had (MSC4186).
//!
//! Nothing here is persisted: after a restart, or once a connection is evicted by the bounds
//! below, its `pos` is unknown and the client gets `M_UNKNOWN_POS` and starts over, which the
//! MSC allows and every sliding sync client handles. Rebuilding a connection costs one initial
//! sync; persisting every snapshot would cost a write on every request.

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    sync::Arc,
    time::Instant,
};

use parking_lot::Mutex;
use ruma::{OwnedDeviceId, OwnedRoomId, OwnedUserId};

use super::required_state::RequiredState;
use crate::{Error, Result};

/// Snapshots kept per connection: the one the client's last `pos` names and the newest. A
/// third covers a client that retries an older request while a newer one is in flight.
const SNAPSHOTS_PER_CONNECTION: usize = 3;

/// Connections kept per device. Element X keeps two (`room-list` and `encryption`); a client
/// that opens more evicts its least recently used.
const CONNECTIONS_PER_DEVICE: usize = 8;

/// Connections kept in all. Past this the least recently used is evicted; its client starts
/// over with `M_UNKNOWN_POS`. At about 160 KiB for a user in 500 rooms (docs/benchmarks.md),
/// this bounds the store near 1.5 GiB in the worst case.
const MAX_CONNECTIONS: usize = 10_000;

/// Who a connection belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ConnectionKey {
    pub user_id: OwnedUserId,
    pub device_id: OwnedDeviceId,
    pub conn_id: String,
}

/// What the client was sent about one room.
#[derive(Debug, Clone)]
pub(crate) struct SentRoom {
    /// Everything of the room at or below this stream position was delivered (or chosen not
    /// to be, e.g. a timeline cut by `timeline_limit`).
    pub upto: u64,
    /// The `required_state` the room was last sent with.
    pub required_state: RequiredState,
    /// Member events already sent for `$LAZY`, sorted (a boxed slice: most rooms have a few,
    /// and a connection holds one list per room).
    pub lazy_members: Box<[OwnedUserId]>,
    /// Sent as an invite or knock (stripped state only): once joined, the room is new to
    /// the client.
    pub stripped: bool,
}

/// One state of a connection: what a client holding this `pos` has.
#[derive(Debug, Clone, Default)]
pub(crate) struct Snapshot {
    /// The stream position the response that made this snapshot covered (`None`: the
    /// connection is new and nothing was sent).
    pub stream: Option<u64>,
    /// Rooms sent on this connection.
    pub rooms: HashMap<OwnedRoomId, SentRoom>,
    /// The count of each list in the last response.
    pub list_counts: BTreeMap<String, usize>,
}

/// A connection's snapshots, oldest first, and its identity.
#[derive(Debug)]
struct Connection {
    /// Random per connection, so a `pos` of another connection (or of this one before a
    /// restart of the connection) never matches.
    nonce: u64,
    /// The number of the next snapshot.
    next_seq: u64,
    snapshots: VecDeque<(u64, Arc<Snapshot>)>,
    last_used: Instant,
}

/// A parsed `pos`: connection nonce and snapshot number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pos {
    nonce: u64,
    seq: u64,
}

impl Pos {
    fn parse(text: &str) -> Option<Self> {
        let (nonce, seq) = text.split_once('_')?;
        Some(Self {
            nonce: u64::from_str_radix(nonce, 16).ok()?,
            seq: seq.parse().ok()?,
        })
    }

    /// The client's form.
    pub fn render(self) -> String {
        format!("{:x}_{}", self.nonce, self.seq)
    }
}

/// The store of every connection. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Connections {
    inner: Arc<Mutex<HashMap<ConnectionKey, Connection>>>,
}

/// A request's starting point: the snapshot to answer from and where to store the result.
#[derive(Debug)]
pub(crate) struct Start {
    pub snapshot: Arc<Snapshot>,
    nonce: u64,
}

impl Connections {
    /// The snapshot `pos` names, or a new connection when there is no `pos`. A `pos` that is
    /// malformed, of another connection, evicted or from before a restart is `M_UNKNOWN_POS`.
    /// Nothing changes on error.
    pub(crate) fn start(&self, key: &ConnectionKey, pos: Option<&str>) -> Result<Start> {
        let mut connections = self.inner.lock();
        let Some(pos) = pos else {
            // A new connection: the old one and every pos it gave out are gone.
            let nonce = rand::random::<u64>();
            connections.insert(
                key.clone(),
                Connection {
                    nonce,
                    next_seq: 1,
                    snapshots: VecDeque::new(),
                    last_used: Instant::now(),
                },
            );
            evict(&mut connections, key);
            return Ok(Start {
                snapshot: Arc::new(Snapshot::default()),
                nonce,
            });
        };
        let unknown = || {
            Error::with_errcode(
                "M_UNKNOWN_POS",
                "Unknown or expired pos: start the connection over by sending the request without `pos`",
            )
        };
        let pos = Pos::parse(pos).ok_or_else(unknown)?;
        let connection = connections.get_mut(key).ok_or_else(unknown)?;
        if connection.nonce != pos.nonce {
            return Err(unknown());
        }
        let snapshot = connection
            .snapshots
            .iter()
            .find(|(seq, _)| *seq == pos.seq)
            .map(|(_, snapshot)| snapshot.clone())
            .ok_or_else(unknown)?;
        // The client holds `pos`: what came before it is never asked for again.
        connection.snapshots.retain(|(seq, _)| *seq >= pos.seq);
        connection.last_used = Instant::now();
        Ok(Start {
            snapshot,
            nonce: pos.nonce,
        })
    }

    /// Stores the snapshot a response leaves the client with and returns its `pos`. When the
    /// connection was started over meanwhile (a request without `pos` on another socket), the
    /// snapshot is dropped and the answer's `pos` is already unknown, as the MSC wants.
    pub(crate) fn store(&self, key: &ConnectionKey, start: &Start, snapshot: Snapshot) -> String {
        let mut connections = self.inner.lock();
        let Some(connection) = connections.get_mut(key).filter(|c| c.nonce == start.nonce) else {
            return Pos {
                nonce: start.nonce,
                seq: 0,
            }
            .render();
        };
        let seq = connection.next_seq;
        connection.next_seq += 1;
        connection.snapshots.push_back((seq, Arc::new(snapshot)));
        while connection.snapshots.len() > SNAPSHOTS_PER_CONNECTION {
            connection.snapshots.pop_front();
        }
        connection.last_used = Instant::now();
        Pos {
            nonce: start.nonce,
            seq,
        }
        .render()
    }

    /// Forgets every connection of a device (logged out or deleted).
    pub fn forget_device(&self, user_id: &ruma::UserId, device_id: &ruma::DeviceId) {
        self.inner
            .lock()
            .retain(|key, _| key.user_id != user_id || key.device_id != device_id);
    }

    /// How many connections are kept now (for metrics and the benchmark).
    pub fn len(&self) -> usize {
        self.inner.lock().len()
    }

    /// Whether no connection is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Applies the bounds after `added` joined the store: per device, then in all, least recently
/// used first.
fn evict(connections: &mut HashMap<ConnectionKey, Connection>, added: &ConnectionKey) {
    let same_device: Vec<(ConnectionKey, Instant)> = connections
        .iter()
        .filter(|(key, _)| key.user_id == added.user_id && key.device_id == added.device_id)
        .map(|(key, c)| (key.clone(), c.last_used))
        .collect();
    if same_device.len() > CONNECTIONS_PER_DEVICE {
        evict_oldest(connections, same_device, CONNECTIONS_PER_DEVICE, added);
    }
    if connections.len() > MAX_CONNECTIONS {
        let all = connections.iter().map(|(key, c)| (key.clone(), c.last_used)).collect();
        evict_oldest(connections, all, MAX_CONNECTIONS, added);
    }
}

fn evict_oldest(
    connections: &mut HashMap<ConnectionKey, Connection>,
    mut candidates: Vec<(ConnectionKey, Instant)>,
    keep: usize,
    added: &ConnectionKey,
) {
    candidates.retain(|(key, _)| key != added);
    candidates.sort_by_key(|(_, used)| *used);
    let excess = (candidates.len() + 1).saturating_sub(keep);
    for (key, _) in candidates.into_iter().take(excess) {
        connections.remove(&key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(conn: &str) -> ConnectionKey {
        ConnectionKey {
            user_id: ruma::owned_user_id!("@a:x"),
            device_id: "D".into(),
            conn_id: conn.to_owned(),
        }
    }

    #[test]
    fn a_pos_works_only_on_its_own_connection_until_it_starts_over() -> Result<()> {
        let store = Connections::default();
        let start = store.start(&key("room-list"), None)?;
        let pos = store.store(&key("room-list"), &start, Snapshot::default());
        assert!(store.start(&key("room-list"), Some(&pos)).is_ok());
        // Repeating the same pos works (a lost response).
        assert!(store.start(&key("room-list"), Some(&pos)).is_ok());
        assert!(store.start(&key("encryption"), Some(&pos)).is_err());
        assert!(store.start(&key("room-list"), Some("garbage")).is_err());
        store.start(&key("room-list"), None)?;
        assert!(store.start(&key("room-list"), Some(&pos)).is_err());
        Ok(())
    }

    #[test]
    fn a_device_keeps_a_bounded_number_of_connections() -> Result<()> {
        let store = Connections::default();
        for n in 0..CONNECTIONS_PER_DEVICE + 3 {
            store.start(&key(&format!("c{n}")), None)?;
        }
        assert_eq!(store.len(), CONNECTIONS_PER_DEVICE);
        Ok(())
    }
}
