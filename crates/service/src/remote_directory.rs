//! The public room directory of another server (`/publicRooms?server=...`), asked over
//! federation and passed on as the client API's answer.

use crate::{Result, Services, rooms::PublicRoomsPage};
use ruma::{ServerName, UInt, api::federation::directory::get_public_rooms_filtered::v1 as public_rooms};

impl Services {
    /// Published rooms of `server` (this server's when `None` or ours).
    pub async fn public_rooms_anywhere(
        &self,
        server: Option<&ServerName>,
        limit: Option<usize>,
        since: Option<&str>,
        search: Option<&str>,
    ) -> Result<PublicRoomsPage> {
        let Some(server) = server.filter(|server| *server != self.config.server_name) else {
            return self.rooms.public_rooms(limit, since, search);
        };
        let federation = self.federation_for(&format!("The room directory of {server}"))?;
        let mut request = public_rooms::Request::new();
        request.limit = limit.and_then(|l| UInt::try_from(l).ok());
        request.since = since.map(str::to_owned);
        request.filter.generic_search_term = search.map(str::to_owned);
        let response = federation
            .client()
            .send(server, request)
            .await
            .map_err(|err| crate::remote::remote_error(&format!("The room directory of {server}"), err))?;
        Ok(PublicRoomsPage {
            chunk: response.chunk,
            next_batch: response.next_batch,
            prev_batch: response.prev_batch,
            total_room_count_estimate: response.total_room_count_estimate,
        })
    }
}
