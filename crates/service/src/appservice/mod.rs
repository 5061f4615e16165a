//! Application services (spec: application-service-api.md): bridges and bots registered by
//! the admin. They act as their users with their `as_token` ([`auth`]), receive every event
//! that concerns them in durable, ordered transactions ([`delivery`]), and are asked about
//! users and aliases of their namespaces ([`queries`]).

mod auth;
mod delivery;
mod interest;
mod msc3202;
mod queries;
mod registry;
mod thirdparty;
mod transaction;

use std::{collections::HashMap, sync::Arc};

use accord_core::{
    Config,
    appservice::{NamespaceKind, Registration},
    time::now_millis,
};
use accord_db::{UserAccount, WriteBatch};
use accord_federation::AppserviceClient;
use ruma::{
    RoomAliasId, UserId,
    api::{OutgoingRequest, appservice::HomeserverToken, error::ErrorKind, path_builder::PathBuilder},
};

pub use auth::{AppserviceCaller, appservice_pseudo_device};
pub use delivery::run_appservice_delivery;
pub use registry::{Registry, RegistrySnapshot};

use crate::{AuthedUser, Error, Result, Services};

/// The application service machinery. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Appservices {
    /// The registrations in force.
    pub registry: Registry,
    client: AppserviceClient,
    /// Rung when a transaction may be waiting (a to-device message was queued, say).
    wake: Arc<tokio::sync::Notify>,
    /// Services that are failing: when to try again.
    backoff: crate::backoff::Backoffs,
    /// One delivery pass at a time.
    delivering: Arc<tokio::sync::Mutex<()>>,
    /// Each service's progress as far as delivery has read, and the stream position last
    /// written to the database (see `delivery.rs`).
    progress: Arc<parking_lot::Mutex<HashMap<String, (accord_db::AppserviceProgress, u64)>>>,
}

impl Appservices {
    pub(crate) fn new(config: &Config) -> Result<Self> {
        let registry = Registry::load(&config.appservice.registration_files, &config.server_name)
            .map_err(|err| Error::Internal(err.to_string()))?;
        let client = AppserviceClient::new(config.federation.tls_ca_file.as_deref())
            .map_err(|err| Error::Internal(format!("application service client: {err}")))?;
        Ok(Self {
            registry,
            client,
            wake: Arc::default(),
            backoff: crate::backoff::Backoffs::new(delivery::FIRST_DELAY, delivery::MAX_DELAY),
            delivering: Arc::default(),
            progress: Arc::default(),
        })
    }

    /// Asks the delivery task to look for work now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// The service that claims `value` exclusively, if any.
    pub fn exclusive_owner(&self, kind: NamespaceKind, value: &str) -> Option<Arc<Registration>> {
        self.registry.snapshot().exclusive_owner(kind, value).cloned()
    }
}

/// Queues to-device messages for the services whose users receive them (MSC2409), in the
/// batch that queues them for the devices: one snapshot of the registry per send.
#[derive(Debug)]
pub(crate) struct ToDeviceForAppservices {
    registry: Arc<RegistrySnapshot>,
}

impl ToDeviceForAppservices {
    /// Queues `message` for `recipient`'s `device_id` with every service interested in the
    /// recipient that asked for ephemeral events; whether any did.
    pub(crate) fn queue(
        &self,
        db: &accord_db::Db,
        batch: &mut WriteBatch,
        count: u64,
        (recipient, device_id): (&UserId, &ruma::DeviceId),
        message: &accord_db::ToDeviceMessage,
    ) -> bool {
        let mut queued = false;
        for registration in self
            .registry
            .interested_in_user(recipient)
            .filter(|reg| reg.receive_ephemeral)
        {
            let event = serde_json::json!({
                "type": message.kind,
                "sender": message.sender,
                "content": message.content,
                "to_user_id": recipient,
                "to_device_id": device_id,
            });
            db.put_appservice_to_device(batch, &registration.id, count, (recipient, device_id), &event);
            queued = true;
        }
        queued
    }
}

impl Services {
    /// One request of the application service API to `registration`; `None` when it has no
    /// URL or the request fails (logged): queries and lookups treat a failing service as one
    /// that says no, as Synapse does. The future owns what it needs, so callers can build
    /// one per service and await them in turn.
    pub(crate) fn ask<R>(
        &self,
        registration: &Registration,
        request: R,
    ) -> impl Future<Output = Option<R::IncomingResponse>> + use<R>
    where
        R: OutgoingRequest<Authentication = HomeserverToken> + Send + 'static,
        for<'b> <R::PathBuilder as PathBuilder>::Input<'b>: Default,
    {
        let client = self.appservices.client.clone();
        let (id, url, token) = (
            registration.id.clone(),
            registration.url.clone(),
            registration.hs_token.clone(),
        );
        async move {
            let url = url?;
            match client.send(&url, &token, request).await {
                Ok(response) => Some(response),
                Err(err) => {
                    tracing::debug!(appservice = %id, request = std::any::type_name::<R>(), %err, "application service said no");
                    None
                }
            }
        }
    }

    /// What queues to-device messages for services, for one send.
    pub(crate) fn to_device_for_appservices(&self) -> ToDeviceForAppservices {
        ToDeviceForAppservices {
            registry: self.appservices.registry.snapshot(),
        }
    }

    /// Creates the account of every service's sender that has none yet. Services act as
    /// their sender without registering it (Complement's bridge user never registers), and
    /// an account makes it a user like any other: a profile, a membership, a device list.
    pub fn ensure_appservice_senders(&self) -> Result<()> {
        let db = self.db();
        let mut batch = WriteBatch::new();
        let mut created = Vec::new();
        for registration in &self.appservices.registry.snapshot().list {
            if db.get_account(&registration.sender)?.is_some() {
                continue;
            }
            db.put_account(
                &mut batch,
                &registration.sender,
                &UserAccount {
                    password_hash: None,
                    admin: false,
                    created_ts: now_millis(),
                    ..UserAccount::default()
                },
            );
            created.push(registration.sender.clone());
        }
        if !created.is_empty() {
            db.write(batch)?;
            tracing::info!(senders = ?created, "accounts created for application service senders");
        }
        Ok(())
    }

    /// Reads the registration files again (SIGHUP); on a problem the old set stays.
    pub fn reload_appservices(&self, config: &Config) -> Result<usize> {
        let count = self
            .appservices
            .registry
            .reload(&config.appservice.registration_files, &config.server_name)
            .map_err(|err| Error::Internal(err.to_string()))?;
        self.ensure_appservice_senders()?;
        self.appservices.wake();
        Ok(count)
    }

    /// Whether `user` may create `alias` as far as services are concerned (Synapse's rules,
    /// 400 `M_EXCLUSIVE`): a service only in its alias namespace, anyone else nowhere a
    /// service claims exclusively.
    pub fn check_alias_allowed(&self, user: &AuthedUser, alias: &RoomAliasId) -> Result<()> {
        let registry = self.appservices.registry.snapshot();
        if let Some(caller) = &user.appservice {
            let in_namespace = registry
                .by_id(&caller.id)
                .is_some_and(|reg| reg.matches(NamespaceKind::Aliases, alias.as_str()));
            if !in_namespace {
                return Err(Error::new(
                    ErrorKind::Exclusive,
                    format!(
                        "{alias} is outside the alias namespace of application service {}",
                        caller.id
                    ),
                ));
            }
            return Ok(());
        }
        match registry.exclusive_owner(NamespaceKind::Aliases, alias.as_str()) {
            Some(owner) if owner.sender != user.user_id => Err(Error::new(
                ErrorKind::Exclusive,
                format!("{alias} is reserved by an application service"),
            )),
            _ => Ok(()),
        }
    }

    /// Refuses a user id some service claims exclusively to anyone but that service
    /// (`M_EXCLUSIVE`, 400): registration of a name in a bridge's namespace.
    pub fn check_user_not_exclusive(&self, user_id: &UserId, acting: Option<&str>) -> Result<()> {
        match self.appservices.exclusive_owner(NamespaceKind::Users, user_id.as_str()) {
            Some(owner) if acting != Some(owner.id.as_str()) => Err(Error::new(
                ErrorKind::Exclusive,
                format!("{user_id} is reserved by an application service"),
            )),
            _ => Ok(()),
        }
    }
}
