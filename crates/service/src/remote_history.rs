//! History that lives on other servers: when a backward `/messages` page runs out of local
//! history and the room began before this server joined, older events are fetched with
//! `/backfill` from a server in the room, round after round until the page is full, and the
//! page is read again.

use ruma::events::room::member::MembershipState;
use ruma::{CanonicalJsonObject, RoomId, UInt, api::federation::backfill::get_backfill::v1 as backfill};

use crate::{
    AuthedUser, Result, Services,
    rooms::{EventFilter, MessagesPage, Pagination},
};

/// Events asked for per `/backfill` request.
const BACKFILL_BATCH: u32 = 100;

/// Most `/backfill` rounds for one `/messages` page (a page holds up to 1000 events).
const MAX_BACKFILL_ROUNDS: usize = 10;

impl Services {
    /// `GET /rooms/{roomId}/messages`, backfilling from other servers when local history ends:
    /// round after round until the page is full or the room's history is complete, so a page
    /// larger than one `/backfill` answer is filled. While history remains on other servers
    /// the page keeps an `end`, so the client asks again (without it, clients stop: Complement's
    /// TestMessagesOverFederation pages through 300 events 200 at a time).
    pub async fn messages_anywhere(
        &self,
        user: &AuthedUser,
        room_id: &RoomId,
        page: Pagination<'_>,
        filter: &EventFilter,
    ) -> Result<MessagesPage> {
        let mut answer = self.rooms.messages(user, room_id, page, filter)?;
        if !page.backward || answer.end.is_some() || self.federation.is_none() {
            return Ok(answer);
        }
        let mut fetched = false;
        for _ in 0..MAX_BACKFILL_ROUNDS {
            match self.backfill_room(room_id).await {
                Ok(0) => break,
                Ok(_) => {
                    fetched = true;
                    answer = self.rooms.messages(user, room_id, page, filter)?;
                    if answer.end.is_some() {
                        return Ok(answer);
                    }
                }
                Err(err) => {
                    tracing::info!(room = %room_id, %err, "backfill failed");
                    break;
                }
            }
        }
        if fetched && self.rooms.rooms().backfill_point(room_id)?.is_some() {
            answer.end = Some(answer.stopped_at.clone());
        }
        Ok(answer)
    }

    /// Fetches history before the room's oldest local event from a server in the room; returns
    /// how many events were added.
    pub async fn backfill_room(&self, room_id: &RoomId) -> Result<usize> {
        let federation = self.federation_for("Room history")?;
        let rooms = self.rooms.rooms();
        let Some(from) = rooms.backfill_point(room_id)? else {
            return Ok(0);
        };
        let rules = self.signing_rules(room_id);
        for server in rooms.remote_servers(room_id, &[MembershipState::Join])? {
            let request = backfill::Request::new(room_id.to_owned(), vec![from.clone()], UInt::from(BACKFILL_BATCH));
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
            let mut keys = ruma::signatures::PublicKeyMap::new();
            for event in &events {
                if let Ok(found) = federation.event_signing_keys(event, &rules).await {
                    for (server, set) in found {
                        keys.entry(server).or_default().extend(set);
                    }
                }
            }
            let added = rooms.store_backfilled(room_id, events, &keys).await?;
            tracing::info!(%server, room = %room_id, added, "backfilled history");
            return Ok(added);
        }
        Ok(0)
    }
}
