//! History that lives on other servers: when a backward `/messages` page runs out of local
//! history and the room began before this server joined, older events are fetched with
//! `/backfill` from a server in the room, round after round until the page is full, and the
//! page is read again. A hole inside the timeline (the server left and rejoined, or missed
//! more than `/get_missing_events` reaches) is filled the same way when a page reaches it.

use accord_db::rooms::ShortEventId;
use accord_room::GapFill;
use ruma::events::room::member::MembershipState;
use ruma::{
    CanonicalJsonObject, OwnedEventId, RoomId, UInt, api::federation::backfill::get_backfill::v1 as backfill,
    signatures::PublicKeyMap,
};

use crate::{
    AuthedUser, Result, Services,
    rooms::{EventFilter, MessagesPage, Pagination},
};

/// Events asked for per `/backfill` request.
const BACKFILL_BATCH: u32 = 100;

/// Most `/backfill` rounds for one `/messages` page (a page holds up to 1000 events).
const MAX_BACKFILL_ROUNDS: usize = 10;

impl Services {
    /// `GET /rooms/{roomId}/messages`, backfilling from other servers where local history has
    /// a hole or ends: round after round until the page is full or the room's history is
    /// complete, so a page larger than one `/backfill` answer is filled. While history remains
    /// on other servers the page keeps an `end`, so the client asks again (without it, clients
    /// stop: Complement's TestMessagesOverFederation pages through 300 events 200 at a time,
    /// and again after leaving and re-joining, across the hole that leaves).
    pub async fn messages_anywhere(
        &self,
        user: &AuthedUser,
        room_id: &RoomId,
        page: Pagination<'_>,
        filter: &EventFilter,
    ) -> Result<MessagesPage> {
        let rooms = &self.rooms;
        if !page.backward || self.federation.is_none() {
            return rooms.messages(user, room_id, page, filter);
        }
        let mut answer = rooms.messages_page(user, room_id, page, filter, true)?;
        let mut rounds = 0;
        while let Some(gap) = answer.gap_at {
            if rounds == MAX_BACKFILL_ROUNDS {
                // The page ends at the hole, with an `end`: the next page goes on filling it.
                return Ok(answer);
            }
            rounds += 1;
            let stop_at_gaps = match self.fill_timeline_gap(room_id, gap).await {
                Ok(GapFill::Progress) => true,
                Ok(GapFill::Nothing) => false,
                Err(err) => {
                    tracing::info!(room = %room_id, %err, "filling a timeline gap failed");
                    false
                }
            };
            // Without progress the page reads on past the hole: better than no history.
            answer = rooms.messages_page(user, room_id, page, filter, stop_at_gaps)?;
        }
        if answer.more_here {
            return Ok(answer);
        }
        let mut fetched = false;
        while rounds < MAX_BACKFILL_ROUNDS {
            rounds += 1;
            match self.backfill_room(room_id).await {
                Ok(0) => break,
                Ok(_) => {
                    fetched = true;
                    answer = rooms.messages(user, room_id, page, filter)?;
                    if answer.more_here {
                        return Ok(answer);
                    }
                }
                Err(err) => {
                    tracing::info!(room = %room_id, %err, "backfill failed");
                    break;
                }
            }
        }
        if fetched && rooms.rooms().backfill_point(room_id)?.is_some() {
            answer.end = Some(answer.stopped_at.clone());
        }
        Ok(answer)
    }

    /// Fetches history before the room's oldest local event from a server in the room; returns
    /// how many events were added.
    pub async fn backfill_room(&self, room_id: &RoomId) -> Result<usize> {
        let rooms = self.rooms.rooms();
        let Some(from) = rooms.backfill_point(room_id)? else {
            return Ok(0);
        };
        let Some((events, keys)) = self.fetch_backfill(room_id, vec![from]).await? else {
            return Ok(0);
        };
        let added = rooms.store_backfilled(room_id, events, &keys).await?;
        tracing::info!(room = %room_id, added, "backfilled history");
        Ok(added)
    }

    /// Fetches the events missing before `gap` (an event just above a hole in the timeline)
    /// and places them in the hole.
    async fn fill_timeline_gap(&self, room_id: &RoomId, gap: ShortEventId) -> Result<GapFill> {
        let rooms = self.rooms.rooms();
        let missing = rooms.gap_prev_events(gap)?;
        let (events, keys) = match missing.is_empty() {
            // Nothing is missing any more: the fill only clears the mark.
            true => (Vec::new(), PublicKeyMap::new()),
            false => match self.fetch_backfill(room_id, missing).await? {
                Some(answer) => answer,
                None => return Ok(GapFill::Nothing),
            },
        };
        let answer_full = events.len() >= BACKFILL_BATCH as usize;
        Ok(rooms.fill_gap(room_id, gap, events, &keys, answer_full).await?)
    }

    /// One `/backfill` answer from `from` backwards, from the first server in the room that
    /// gives one, with the signing keys of its events; `None` when no server answered.
    async fn fetch_backfill(
        &self,
        room_id: &RoomId,
        from: Vec<OwnedEventId>,
    ) -> Result<Option<(Vec<CanonicalJsonObject>, PublicKeyMap)>> {
        let federation = self.federation_for("Room history")?;
        let rooms = self.rooms.rooms();
        let rules = self.signing_rules(room_id);
        for server in rooms.remote_servers(room_id, &[MembershipState::Join])? {
            let request = backfill::Request::new(room_id.to_owned(), from.clone(), UInt::from(BACKFILL_BATCH));
            let response = match federation.client().send(&server, request).await {
                Ok(response) => response,
                Err(err) => {
                    tracing::info!(%server, room = %room_id, %err, "backfill request failed");
                    continue;
                }
            };
            let events: Vec<CanonicalJsonObject> = response
                .pdus
                .iter()
                .filter_map(|raw| serde_json::from_str(raw.get()).ok())
                .collect();
            let mut keys = PublicKeyMap::new();
            for event in &events {
                if let Ok(found) = federation.event_signing_keys(event, &rules).await {
                    for (server, set) in found {
                        keys.entry(server).or_default().extend(set);
                    }
                }
            }
            tracing::info!(%server, room = %room_id, events = events.len(), "history fetched");
            return Ok(Some((events, keys)));
        }
        Ok(None)
    }
}
