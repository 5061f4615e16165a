//! "Jump to date" (spec: `/timestamp_to_event`, client and federation): the local answer, and
//! where this server's history of the room may be missing what the asker wants (the search
//! ends beside a hole, or nothing is found), the answers of other servers in the room. A
//! closer remote event is fetched into the local timeline by backfilling, so the client can
//! open `/context` and `/messages` at it.

use accord_db::Direction;
use ruma::events::room::member::MembershipState;
use ruma::{
    MilliSecondsSinceUnixEpoch, OwnedEventId, RoomId, UserId,
    api::federation::event::get_event_by_timestamp::v1 as by_ts,
};

use crate::{
    Result, Services,
    rooms::jump_to_date::{Asker, FoundByTime, nothing_at},
};

/// Most `/backfill` rounds spent fetching a remote answer into the timeline.
const MAX_FETCH_ROUNDS: usize = 5;

impl Services {
    /// `GET /rooms/{roomId}/timestamp_to_event` for a local user: `(event_id, ts)`.
    pub async fn timestamp_to_event(
        &self,
        user_id: &UserId,
        room_id: &RoomId,
        ts: u64,
        direction: Direction,
    ) -> Result<(OwnedEventId, u64)> {
        let local = self.rooms.event_by_time(Asker::User(user_id), room_id, ts, direction)?;
        let ask_others = local.as_ref().is_none_or(|found| found.near_gap);
        let remote = match ask_others && self.federation.is_some() {
            true => self.remote_event_by_time(room_id, ts, direction).await,
            false => None,
        };
        let distance = |found_ts: u64| found_ts.abs_diff(ts);
        match (local, remote) {
            (Some(local), Some(remote)) if distance(remote.1) >= distance(local.ts) => Ok((local.event_id, local.ts)),
            (_, Some((event_id, remote_ts))) => {
                self.fetch_into_timeline(room_id, &event_id).await;
                Ok((event_id, remote_ts))
            }
            (Some(FoundByTime { event_id, ts, .. }), None) => Ok((event_id, ts)),
            (None, None) => Err(nothing_at(ts, direction)),
        }
    }

    /// The first answer of another server in the room that has one.
    async fn remote_event_by_time(
        &self,
        room_id: &RoomId,
        ts: u64,
        direction: Direction,
    ) -> Option<(OwnedEventId, u64)> {
        let federation = self.federation.as_ref()?;
        let servers = self
            .rooms
            .rooms()
            .remote_servers(room_id, &[MembershipState::Join])
            .ok()?;
        let dir = match direction {
            Direction::Forward => ruma::api::Direction::Forward,
            Direction::Backward => ruma::api::Direction::Backward,
        };
        let at = MilliSecondsSinceUnixEpoch(ruma::UInt::new_saturating(ts));
        for server in servers {
            let request = by_ts::Request::new(room_id.to_owned(), at, dir);
            match federation.client().send(&server, request).await {
                Ok(answer) => return Some((answer.event_id, u64::from(answer.origin_server_ts.get()))),
                Err(err) => tracing::debug!(%server, room = %room_id, %err, "timestamp_to_event not answered"),
            }
        }
        None
    }

    /// Backfills the room until `event_id` has a place in the timeline, for a few rounds; a
    /// failure leaves the answer standing (the client can still ask the event's context).
    async fn fetch_into_timeline(&self, room_id: &RoomId, event_id: &OwnedEventId) {
        for _ in 0..MAX_FETCH_ROUNDS {
            if self.in_timeline(event_id) {
                return;
            }
            match self.backfill_room(room_id).await {
                Ok(0) => break,
                Ok(_) => {}
                Err(err) => {
                    tracing::info!(room = %room_id, %err, "fetching a jump-to-date answer failed");
                    break;
                }
            }
        }
        if !self.in_timeline(event_id) {
            tracing::info!(room = %room_id, event = %event_id, "jump-to-date answer not in the local timeline");
        }
    }

    fn in_timeline(&self, event_id: &OwnedEventId) -> bool {
        let db = self.db();
        db.get_short_event_id(event_id)
            .ok()
            .flatten()
            .and_then(|short| db.event_meta(short).ok())
            .is_some_and(|meta| meta.count.is_some())
    }
}
