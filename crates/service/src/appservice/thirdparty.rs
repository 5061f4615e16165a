//! Third-party lookups (spec: client-server "Third-party networks"): the protocols bridges
//! serve, and users and locations on them, answered by the services that list the protocol in
//! their registration. A service that fails is left out, as Synapse does, so one broken bridge
//! doesn't hide the others.

use std::{collections::BTreeMap, sync::Arc};

use accord_core::appservice::Registration;
use ruma::{
    OwnedRoomAliasId, OwnedUserId,
    api::appservice::thirdparty::{
        get_location_for_protocol, get_location_for_room_alias, get_protocol, get_user_for_protocol,
        get_user_for_user_id,
    },
    thirdparty::{Location, Protocol, ProtocolInstance, User},
};

use crate::{Error, Result, Services};

impl Services {
    /// `GET /thirdparty/protocols`: every protocol some service serves, its instances merged
    /// across services, each instance id naming its service (`<service id>|<network id>`).
    pub async fn thirdparty_protocols(&self) -> BTreeMap<String, Protocol> {
        let registry = self.appservices.registry.snapshot();
        let mut names: Vec<&String> = registry.list.iter().flat_map(|reg| &reg.protocols).collect();
        names.sort();
        names.dedup();
        let mut out = BTreeMap::new();
        for name in names {
            if let Some(protocol) = self.thirdparty_protocol_merged(name).await {
                out.insert(name.clone(), protocol);
            }
        }
        out
    }

    /// `GET /thirdparty/protocol/{protocol}`: 404 when no service serves it.
    pub async fn thirdparty_protocol(&self, name: &str) -> Result<Protocol> {
        self.thirdparty_protocol_merged(name)
            .await
            .ok_or_else(|| Error::not_found(format!("No bridge here serves the protocol {name:?}")))
    }

    async fn thirdparty_protocol_merged(&self, name: &str) -> Option<Protocol> {
        let registry = self.appservices.registry.snapshot();
        let mut merged: Option<Protocol> = None;
        for registration in registry
            .list
            .iter()
            .filter(|reg| reg.protocols.iter().any(|p| p == name))
        {
            let request = get_protocol::v1::Request::new(name.to_owned());
            let Some(response) = self.ask(registration, request).await else {
                continue;
            };
            let mut protocol: Protocol<ProtocolInstance> = response.protocol.into();
            for instance in &mut protocol.instances {
                instance.instance_id = Some(format!("{}|{}", registration.id, instance.network_id));
            }
            match &mut merged {
                Some(existing) => existing.instances.extend(protocol.instances),
                None => merged = Some(protocol),
            }
        }
        merged
    }

    /// `GET /thirdparty/location/{protocol}`: what the services of the protocol answer.
    pub async fn thirdparty_locations(&self, protocol: &str, fields: BTreeMap<String, String>) -> Vec<Location> {
        ask_all(self.serving(protocol), |registration: &Registration| {
            let mut request = get_location_for_protocol::v1::Request::new(protocol.to_owned());
            request.fields = fields.clone();
            self.ask(registration, request)
        })
        .await
        .into_iter()
        .flat_map(|response| response.locations)
        .collect()
    }

    /// `GET /thirdparty/user/{protocol}`: what the services of the protocol answer.
    pub async fn thirdparty_users(&self, protocol: &str, fields: BTreeMap<String, String>) -> Vec<User> {
        ask_all(self.serving(protocol), |registration: &Registration| {
            let mut request = get_user_for_protocol::v1::Request::new(protocol.to_owned());
            request.fields = fields.clone();
            self.ask(registration, request)
        })
        .await
        .into_iter()
        .flat_map(|response| response.users)
        .collect()
    }

    /// `GET /thirdparty/location?alias=`: every service with protocols is asked.
    pub async fn thirdparty_locations_for_alias(&self, alias: OwnedRoomAliasId) -> Vec<Location> {
        ask_all(self.with_protocols(), |registration: &Registration| {
            self.ask(
                registration,
                get_location_for_room_alias::v1::Request::new(alias.clone()),
            )
        })
        .await
        .into_iter()
        .flat_map(|response| response.locations)
        .collect()
    }

    /// `GET /thirdparty/user?userid=`: every service with protocols is asked.
    pub async fn thirdparty_users_for_user_id(&self, user_id: OwnedUserId) -> Vec<User> {
        ask_all(self.with_protocols(), |registration: &Registration| {
            self.ask(registration, get_user_for_user_id::v1::Request::new(user_id.clone()))
        })
        .await
        .into_iter()
        .flat_map(|response| response.users)
        .collect()
    }

    fn with_protocols(&self) -> Vec<Arc<Registration>> {
        self.appservices
            .registry
            .snapshot()
            .list
            .iter()
            .filter(|reg| !reg.protocols.is_empty())
            .cloned()
            .collect()
    }

    fn serving(&self, protocol: &str) -> Vec<Arc<Registration>> {
        self.appservices
            .registry
            .snapshot()
            .list
            .iter()
            .filter(|reg| reg.protocols.iter().any(|p| p == protocol))
            .cloned()
            .collect()
    }
}

/// The answers of `registrations`, asked one after the other; those that fail are left out.
async fn ask_all<T, F, Fut>(registrations: Vec<Arc<Registration>>, ask: F) -> Vec<T>
where
    F: Fn(&Registration) -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let mut answers = Vec::new();
    for registration in &registrations {
        answers.extend(ask(registration).await);
    }
    answers
}
