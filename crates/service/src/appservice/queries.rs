//! Asking services (spec: "Querying"): whether a user or a room alias in their namespace
//! exists, which lets a bridge create it on demand; and pinging a service for its admin.

use std::time::Instant;

use accord_core::appservice::{NamespaceKind, Registration};
use accord_federation::AppserviceError;
use ruma::{
    OwnedRoomId, OwnedTransactionId, RoomAliasId, UserId,
    api::{
        appservice::{ping::send_ping, query::query_room_alias, query::query_user_id},
        error::{BadStatusErrorData, ErrorKind},
    },
};

use crate::{AuthedUser, Error, Result, Services};

impl Services {
    /// Asks `registration` whether `user_id` exists (it may create the user while answering);
    /// whether it said yes. A failing service counts as "no", as Synapse treats it.
    pub(crate) async fn query_appservice_user(&self, registration: &Registration, user_id: &UserId) -> bool {
        let request = query_user_id::v1::Request::new(user_id.to_owned());
        self.ask(registration, request).await.is_some()
    }

    /// The room of a local alias nobody created yet, from the services whose alias namespace
    /// holds it, asked in registration order: the first that says yes is expected to have
    /// created the alias while answering, so the directory is read again. No lock is held
    /// while asking: the service answers by calling this server's client API.
    async fn query_appservice_alias(&self, alias: &RoomAliasId) -> Result<Option<OwnedRoomId>> {
        let registry = self.appservices.registry.snapshot();
        for registration in registry
            .list
            .iter()
            .filter(|reg| reg.matches(NamespaceKind::Aliases, alias.as_str()))
        {
            let request = query_room_alias::v1::Request::new(alias.to_owned());
            if self.ask(registration, request).await.is_some()
                && let Some(record) = self.db().get_alias(alias)?
            {
                return Ok(Some(record.room_id));
            }
        }
        Ok(None)
    }

    /// Where a local alias points; an alias nobody created yet is asked of the services whose
    /// namespace holds it (spec: "Room alias queries"), so a bridge can create its rooms on
    /// demand.
    pub async fn resolve_local_alias(&self, alias: &RoomAliasId) -> Result<OwnedRoomId> {
        match self.rooms.resolve_alias(alias) {
            Err(err) if err.kind() == Some(&ErrorKind::NotFound) => match self.query_appservice_alias(alias).await? {
                Some(room_id) => Ok(room_id),
                None => Err(err),
            },
            other => other,
        }
    }

    /// `POST /_matrix/client/v1/appservice/{appserviceId}/ping`: the service pings itself
    /// through this server, which checks that it can reach it. The errcodes are the spec's.
    pub async fn ping_appservice(
        &self,
        caller: &AuthedUser,
        appservice_id: &str,
        transaction_id: Option<OwnedTransactionId>,
    ) -> Result<u64> {
        let Some(own) = &caller.appservice else {
            return Err(Error::forbidden("Only application services can use the ping endpoint"));
        };
        if own.id != appservice_id {
            return Err(Error::forbidden(format!(
                "This token belongs to application service {:?}, not {appservice_id:?}",
                own.id
            )));
        }
        let registry = self.appservices.registry.snapshot();
        let Some(registration) = registry.by_id(appservice_id) else {
            return Err(Error::forbidden("The application service is no longer registered"));
        };
        let Some(url) = &registration.url else {
            return Err(Error::new(
                ErrorKind::UrlNotSet,
                "The application service's registration has no url; set one to ping it",
            ));
        };
        let mut request = send_ping::v1::Request::new();
        request.transaction_id = transaction_id;
        let started = Instant::now();
        let outcome = self.appservices.client.send(url, &registration.hs_token, request).await;
        let elapsed = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        match outcome {
            Ok(_) => Ok(elapsed),
            Err(AppserviceError::Timeout) => Err(Error::new(
                ErrorKind::ConnectionTimeout,
                "The application service did not answer in time",
            )),
            Err(AppserviceError::Status { status, body }) => {
                let mut data = BadStatusErrorData::new();
                data.status = http::StatusCode::from_u16(status).ok();
                data.body = Some(body);
                Err(Error::new(
                    ErrorKind::BadStatus(data),
                    format!("The application service answered HTTP {status}"),
                ))
            }
            Err(err) => Err(Error::new(ErrorKind::ConnectionFailed, err.to_string())),
        }
    }
}
