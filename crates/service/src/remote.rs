//! Answers that may live on another server: profiles and room aliases of remote users and
//! servers are asked over federation (respecting the closed-federation policy); local ones are
//! answered here.

use ruma::{
    OwnedRoomId, OwnedServerName, RoomAliasId, UserId,
    api::federation::query::{get_profile_information::v1 as get_profile, get_room_information::v1 as get_room},
};
use serde_json::{Map, Value};

use crate::{Error, Result, Services};

/// Turns a federation failure into what the client should be told.
fn remote_error(what: &str, err: accord_federation::Error) -> Error {
    match err {
        accord_federation::Error::Forbidden(message) => Error::forbidden(message),
        accord_federation::Error::Remote { status: 404, .. } => Error::not_found(format!("{what} not found")),
        other => {
            tracing::info!(%other, "federation query failed");
            Error::not_found(format!("{what} could not be fetched from its server: {other}"))
        }
    }
}

impl Services {
    fn federation_for(&self, what: &str) -> Result<&accord_federation::Federation> {
        self.federation
            .as_ref()
            .ok_or_else(|| Error::not_found(format!("{what} is on another server and federation is disabled")))
    }

    /// A user's profile, local or remote.
    pub async fn profile_anywhere(&self, user_id: &UserId) -> Result<Map<String, Value>> {
        if user_id.server_name() == self.config.server_name {
            return self.profiles.get(user_id);
        }
        let what = format!("Profile of {user_id}");
        let federation = self.federation_for(&what)?;
        let response = federation
            .client()
            .send(user_id.server_name(), get_profile::Request::new(user_id.to_owned()))
            .await
            .map_err(|err| remote_error(&what, err))?;
        Ok(response.data.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
    }

    /// Where an alias points (and servers that can join), local or remote.
    pub async fn resolve_alias_anywhere(&self, alias: &RoomAliasId) -> Result<(OwnedRoomId, Vec<OwnedServerName>)> {
        if alias.server_name() == self.config.server_name {
            let room_id = self.rooms.resolve_alias(alias)?;
            return Ok((room_id, vec![self.config.server_name.clone()]));
        }
        let what = format!("Room alias {alias}");
        let federation = self.federation_for(&what)?;
        let response = federation
            .client()
            .send(alias.server_name(), get_room::Request::new(alias.to_owned()))
            .await
            .map_err(|err| remote_error(&what, err))?;
        Ok((response.room_id, response.servers))
    }
}
