//! Accord's server-server plumbing: server name resolution (spec: "Resolving server names"),
//! outbound requests signed with `X-Matrix` over TLS, the cache of other servers' signing keys,
//! verification of inbound `X-Matrix` requests, the guarded fetcher of URL previews, and the
//! client of application services.
//!
//! Invariant: the only crate that makes outbound HTTP requests (to other servers, to the
//! web for URL previews and push gateways, and to application services). No web
//! framework here.

mod appservice;
mod client;
mod edus;
mod error;
mod keys;
mod liveness;
mod notary;
mod policy;
mod refusals;
mod resolver;
mod tls;
pub use tls::verified_client_config;
mod oidc_http;
pub use oidc_http::{OidcHttp, OidcHttpError};
mod transactions;
mod verify;
mod web;

use std::sync::Arc;

use accord_core::{Config, ServerIdentity};

pub use appservice::{AppserviceClient, AppserviceError};
pub use client::{FederationClient, StreamedResponse};
pub use error::{Error, Result};
pub use liveness::Revived;
pub use policy::ServerPolicy;
pub use resolver::{Destination, Resolver};
pub use transactions::TransactionResults;
pub use web::{AddressGuard, WebFetcher, WebPage};

/// Federation services. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Federation {
    identity: ServerIdentity,
    client: FederationClient,
    keys: keys::KeyCache,
    policy: Arc<parking_lot::RwLock<ServerPolicy>>,
    edus: edus::EduQueue,
    liveness: liveness::Liveness,
    transactions: transactions::AnsweredTransactions,
    refusals: refusals::RefusalAudit,
}

impl Federation {
    /// Builds the outbound client (system roots plus `federation.tls_ca_file`) and key cache.
    pub fn new(config: &Config, identity: ServerIdentity, db: accord_db::Db) -> Result<Self> {
        let tls = tls::client_config(config.federation.tls_ca_file.as_deref())?;
        let resolver = Resolver::new(tls.clone())?;
        let policy = Arc::new(parking_lot::RwLock::new(ServerPolicy::new(
            &config.federation.allowed_servers,
            &config.federation.denied_servers,
        )));
        let client = FederationClient::new(identity.clone(), resolver, tls, policy.clone())?;
        Ok(Self {
            identity,
            client,
            refusals: refusals::RefusalAudit::new(db.clone()),
            keys: keys::KeyCache::new(db, config.federation.trusted_key_servers.clone()),
            policy,
            edus: edus::EduQueue::default(),
            liveness: liveness::Liveness::default(),
            transactions: transactions::AnsweredTransactions::default(),
        })
    }

    /// Replaces the allow/deny lists (config reload); applies to the next request either way.
    pub fn set_policy(&self, policy: ServerPolicy) {
        *self.policy.write() = policy;
        self.revive_all();
    }

    /// Whether federation with `server` is currently allowed.
    pub fn allows(&self, server: &ruma::ServerName) -> bool {
        self.policy.read().allows(server)
    }

    /// The signed outbound client.
    pub fn client(&self) -> &FederationClient {
        &self.client
    }

    /// This server's identity.
    pub fn identity(&self) -> &ServerIdentity {
        &self.identity
    }
}
