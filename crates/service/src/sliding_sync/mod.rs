//! Simplified sliding sync (MSC4186), as Element X and every matrix-rust-sdk client speak it.
//!
//! A request names lists (room windows by recency, with filters), room subscriptions and
//! extensions; the response sends each room shown that the connection does not hold as of
//! its `pos`, or holds but has changed, and moves the connection to a new `pos`. With a
//! `pos`, a request with nothing new waits up to `timeout` for something to arrive.
//!
//! Served as Synapse 1.163 serves it at `/_matrix/client/unstable/org.matrix.simplified_msc3575/sync`
//! with ruma's types for that path; the accepted MSC's stable form would be a second route
//! over the same [`Services::sliding_sync`], with its own request and response shapes.

mod bump;
mod connections;
pub(crate) mod extensions;
mod extra_filters;
mod lists;
mod required_state;
mod room;
mod validate;

use std::{
    collections::{BTreeMap, HashSet, btree_map::Entry},
    sync::Arc,
    time::Duration,
};

use ruma::{
    OwnedRoomId,
    api::client::sync::sync_events::v5::{Request, Response, response},
    events::room::member::MembershipState,
};

pub use connections::Connections;
use connections::{ConnectionKey, Snapshot};
pub use extensions::SubscriptionChanges;
use extensions::{ExtensionWindow, Shown};
pub use extra_filters::{ExtraFilters, ListExtras};
use lists::{Candidate, RoomSet, in_ranges};
use required_state::RequiredState;
use room::{RoomAsk, RoomConfig, RoomWindow, uint};

use crate::{AuthedUser, Result, Services};

/// Longest a request waits, whatever the client asks (as `/sync`).
const MAX_TIMEOUT: Duration = Duration::from_secs(120);

/// The sliding sync state of the server: connections and the bump stamp cache. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct SlidingSync {
    /// Every connection's snapshots.
    pub connections: Connections,
    bumps: bump::BumpStamps,
}

/// One computed response and the snapshot it leaves the client with.
struct Answer {
    response: Response,
    snapshot: Snapshot,
    /// Whether it carries anything new (else a long-poll keeps waiting).
    news: bool,
}

impl Services {
    /// Runs one sliding sync request for the user's device. Bad input and an unknown `pos`
    /// are refused before anything changes.
    ///
    /// `extras` holds the list filters ruma's request type lacks, by list name.
    pub async fn sliding_sync(&self, user: &AuthedUser, request: Request, extras: ListExtras) -> Result<Response> {
        validate::check(&request)?;
        let key = ConnectionKey {
            user_id: user.user_id.clone(),
            device_id: user.device_id.clone(),
            conn_id: request.conn_id.clone().unwrap_or_default(),
        };
        let start = self.sliding.connections.start(&key, request.pos.as_deref())?;
        self.presence_from_sync(&user.user_id, request.set_presence.as_str())?;
        self.acknowledge_sliding_to_device(user, &request.extensions)?;
        let request = Arc::new((request, extras));
        let fresh = start.snapshot.stream.is_none();
        let db = self.db();
        let mut stream = db.subscribe_stream();
        let timeout = if fresh {
            Duration::ZERO
        } else {
            request.0.timeout.unwrap_or(Duration::ZERO).min(MAX_TIMEOUT)
        };
        let deadline = tokio::time::Instant::now() + timeout;
        let answer = loop {
            let until = (*stream.borrow_and_update()).max(db.visible_count());
            let answer = self.sliding_off_workers(user, &request, &start.snapshot, until).await?;
            if answer.news || fresh || tokio::time::Instant::now() >= deadline {
                break answer;
            }
            if tokio::time::timeout_at(deadline, stream.changed()).await.is_err() {
                // Timed out: nothing new, at the newest position.
                let until = db.visible_count();
                break self.sliding_off_workers(user, &request, &start.snapshot, until).await?;
            }
        };
        let mut response = answer.response;
        response.pos = self.sliding.connections.store(&key, &start, answer.snapshot);
        response.txn_id = request.0.txn_id.clone();
        Ok(response)
    }

    /// [`Self::sliding_once`] on the blocking pool: a new connection reads every shown room's
    /// state and timeline, thousands of reads for a large account.
    async fn sliding_off_workers(
        &self,
        user: &AuthedUser,
        request: &Arc<(Request, ListExtras)>,
        snapshot: &Arc<Snapshot>,
        until: u64,
    ) -> Result<Answer> {
        let (this, user, request, snapshot) = (self.clone(), user.clone(), request.clone(), snapshot.clone());
        tokio::task::spawn_blocking(move || this.sliding_once(&user, &request.0, &request.1, &snapshot, until)).await?
    }

    /// The response for a client holding `snapshot`, covering the stream up to `until`.
    fn sliding_once(
        &self,
        user: &AuthedUser,
        request: &Request,
        extras: &ListExtras,
        snapshot: &Snapshot,
        until: u64,
    ) -> Result<Answer> {
        let since = snapshot.stream;
        let mut set = RoomSet::load(&self.rooms, &self.sliding.bumps, &user.user_id, since, until)?;
        let mut response = Response::new(String::new());
        let mut shown = Shown::default();
        let mut wanted: BTreeMap<OwnedRoomId, (RoomConfig, Candidate)> = BTreeMap::new();
        let mut list_counts = BTreeMap::new();
        let known = RequiredState::distinct(snapshot.rooms.values().map(|sent| &sent.required_state));
        for (name, list) in &request.lists {
            let rooms = set.list(list, extras.get(name))?;
            let mut counted = response::List::default();
            counted.count = uint(rooms.len() as u64);
            response.lists.insert(name.clone(), counted);
            list_counts.insert(name.clone(), rooms.len());
            let config = RoomConfig {
                required_state: RequiredState::of(&list.room_details.required_state).interned(&known),
                timeline_limit: limit_of(list.room_details.timeline_limit),
            };
            let in_list = shown.lists.entry(name.clone()).or_default();
            for index in in_ranges(&list.ranges, rooms.len()) {
                let candidate = &rooms[index];
                in_list.insert(candidate.room_id.clone());
                merge(&mut wanted, candidate, &config);
            }
        }
        for (room_id, subscription) in &request.room_subscriptions {
            // Rooms the user has no membership in are left out, as Synapse does.
            let Some(candidate) = self.subscribed_candidate(&set, user, room_id)? else {
                continue;
            };
            shown.subscribed.insert(room_id.clone());
            let config = RoomConfig {
                required_state: RequiredState::of(&subscription.required_state).interned(&known),
                timeline_limit: limit_of(subscription.timeline_limit),
            };
            merge(&mut wanted, &candidate, &config);
        }
        let ruleset = self.push_rules.ruleset(&user.user_id)?;
        let changed: HashSet<OwnedRoomId> = match since {
            Some(since) => self.db().rooms_changed(since, until)?.into_iter().collect(),
            None => HashSet::new(),
        };
        let window = RoomWindow {
            user,
            since,
            until,
            ruleset: &ruleset,
            changed: &changed,
        };
        let mut rooms = snapshot.rooms.clone();
        for (room_id, (config, candidate)) in wanted {
            let is_dm = set.is_dm(&candidate)?;
            // A room the client saw only as an invite or knock is new to it once joined.
            let sent = rooms.get(&room_id).filter(|sent| {
                !sent.stripped
                    || matches!(
                        candidate.record.membership,
                        MembershipState::Invite | MembershipState::Knock
                    )
            });
            let new_to_client = sent.is_none();
            let Some(built) = self.rooms.sliding_room(
                &window,
                &room_id,
                &RoomAsk {
                    record: &candidate.record,
                    config: &config,
                    sent,
                    is_dm,
                },
            )?
            else {
                // Nothing new up to `until`: the client's copy of a joined room is current
                // as of it, so the next request skips the room unless the stream touches it.
                if candidate.record.membership == MembershipState::Join
                    && let Some(sent) = rooms.get_mut(&room_id)
                {
                    sent.upto = sent.upto.max(until);
                }
                continue;
            };
            let mut room = built.room;
            room.bump_stamp = Some(uint(candidate.bump));
            if new_to_client {
                shown.new_to_client.insert(room_id.clone(), built.timeline_ids);
            }
            rooms.insert(room_id.clone(), built.sent);
            response.rooms.insert(room_id, room);
        }
        let (extensions, extension_news) = self.sliding_extensions(
            &request.extensions,
            &ExtensionWindow {
                user,
                since,
                until,
                shown: &shown,
                ruleset: &ruleset,
                changed: &changed,
            },
        )?;
        response.extensions = extensions;
        let news = !response.rooms.is_empty() || extension_news || list_counts != snapshot.list_counts;
        Ok(Answer {
            response,
            snapshot: Snapshot {
                stream: Some(until),
                rooms,
                list_counts,
            },
            news,
        })
    }

    /// A subscribed room as a list candidate: from the user's room set, or any room they
    /// have a membership in (one left long ago shows its history up to the departure).
    fn subscribed_candidate(
        &self,
        set: &RoomSet<'_>,
        user: &AuthedUser,
        room_id: &ruma::RoomId,
    ) -> Result<Option<Candidate>> {
        if let Some(candidate) = set.candidates.iter().find(|c| c.room_id == room_id) {
            return Ok(Some(candidate.clone()));
        }
        let Some(record) = self.db().get_membership(&user.user_id, room_id)? else {
            return Ok(None);
        };
        if record.forgotten {
            return Ok(None);
        }
        Ok(Some(Candidate {
            room_id: room_id.to_owned(),
            bump: record.count,
            record,
        }))
    }
}

/// Adds one list's or subscription's wishes for a room to what the room is sent with.
fn merge(wanted: &mut BTreeMap<OwnedRoomId, (RoomConfig, Candidate)>, candidate: &Candidate, config: &RoomConfig) {
    match wanted.entry(candidate.room_id.clone()) {
        Entry::Vacant(entry) => {
            entry.insert((config.clone(), candidate.clone()));
        }
        Entry::Occupied(mut entry) => {
            let (merged, _) = entry.get_mut();
            merged.required_state.extend(&config.required_state);
            merged.timeline_limit = merged.timeline_limit.max(config.timeline_limit);
        }
    }
}

/// A `timeline_limit` as a count (validated before: at most [`validate::MAX_TIMELINE_LIMIT`]).
fn limit_of(limit: ruma::UInt) -> usize {
    usize::try_from(u64::from(limit)).unwrap_or(usize::MAX)
}
