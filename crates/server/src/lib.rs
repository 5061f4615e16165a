//! Accord's composition root: opens storage, builds the services, wraps the routers in the
//! HTTP layers (request log, panic catcher, CORS) and runs the listeners until shutdown.
//!
//! `Server::start` is what the binary AND the tests call, so tests exercise the real wiring.
//! Invariant: the only crate besides `accord-api` that names axum/hyper; no global state, so
//! several servers can run in one process.

mod error;
pub mod layers;
mod listener;
pub mod metrics;
mod tls;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use accord_core::Config;
use accord_db::{Db, tables};
use accord_service::Services;
use accord_storage::KvEngine;
use accord_storage_rocksdb::RocksEngine;
use tokio::{sync::watch, task::JoinHandle};

pub use error::ServerError;

/// How long in-flight requests get to finish at shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Opens the database at `config.database.path`, running migrations.
pub fn open_database(config: &Config) -> Result<Db, ServerError> {
    Ok(Db::open(open_engine(config)?)?)
}

/// Opens the storage engine at `config.database.path` with the table catalog, without
/// migrating (tests wrap it, e.g. to inject faults, before handing it to [`RunningServer::start_on`]).
pub fn open_engine(config: &Config) -> Result<Arc<dyn KvEngine>, ServerError> {
    Ok(Arc::new(RocksEngine::open(
        &config.database.path,
        tables::ALL,
        tables::DROPPED,
    )?))
}

/// A started server: its bound addresses, its services, and the handle to stop it.
pub struct RunningServer {
    /// Where the client-server API listens.
    pub client_addr: SocketAddr,
    /// Where the federation API listens, when enabled.
    pub federation_addr: Option<SocketAddr>,
    /// Where `/metrics`, `/health` and `/ready` are served, when `[metrics]` is on.
    pub metrics_addr: Option<SocketAddr>,
    /// The services, for tests and tools that act beside the HTTP API.
    pub services: Services,
    shutdown: watch::Sender<bool>,
    listeners: Vec<JoinHandle<()>>,
}

impl RunningServer {
    /// Opens storage, binds the listeners and starts serving.
    pub async fn start(config: Config) -> Result<Self, ServerError> {
        let engine = open_engine(&config)?;
        Self::start_on(config, engine).await
    }

    /// Like [`RunningServer::start`], on an engine the caller opened.
    pub async fn start_on(config: Config, engine: Arc<dyn KvEngine>) -> Result<Self, ServerError> {
        let config = Arc::new(config);
        let db = Db::open(engine)?;
        let services = Services::new(config.clone(), db)?;
        services.media.prepare().await?;
        services.ensure_appservice_senders()?;
        services.offer_first_admin_token()?;
        services.resume_room_purges()?;
        if let Err(err) = services.send_due_delayed_events().await {
            tracing::warn!(%err, "delayed events overdue at start could not be sent; the job tries again");
        }
        let (shutdown, shutdown_rx) = watch::channel(false);

        let client_tls = match (&config.client_api.tls_cert, &config.client_api.tls_key) {
            (Some(cert), Some(key)) => Some(tls::acceptor(cert, key)?),
            _ => None,
        };
        let metrics = config.metrics.enabled.then(|| metrics::Metrics::new(services.clone()));
        let http_metrics = metrics.as_ref().map(|metrics| metrics.http.clone());
        let client_router = layers::wrap(accord_api::router(services.clone()), "client", http_metrics.clone());
        let (client_addr, client_task) = listener::spawn(
            "client",
            config.client_api.bind,
            client_tls,
            client_router,
            shutdown_rx.clone(),
        )
        .await?;
        let mut listeners = vec![client_task];

        let mut federation_addr = None;
        if config.federation.enabled {
            let (Some(cert), Some(key)) = (&config.federation.tls_cert, &config.federation.tls_key) else {
                return Err(ServerError::Config(
                    "federation.enabled requires tls_cert and tls_key".to_owned(),
                ));
            };
            let router = layers::wrap(
                accord_api::federation_router(services.clone()),
                "federation",
                http_metrics.clone(),
            );
            let (addr, task) = listener::spawn(
                "federation",
                config.federation.bind,
                Some(tls::acceptor(cert, key)?),
                router,
                shutdown_rx.clone(),
            )
            .await?;
            federation_addr = Some(addr);
            listeners.push(task);
        }

        let mut metrics_addr = None;
        if let Some(metrics) = &metrics {
            let (addr, task) = listener::spawn(
                "metrics",
                config.metrics.bind,
                None,
                metrics.router(services.clone()),
                shutdown_rx,
            )
            .await?;
            metrics_addr = Some(addr);
            listeners.push(task);
        }

        if services.federation.is_some() {
            listeners.push(tokio::spawn(accord_service::sender::run_sender(
                services.clone(),
                shutdown.subscribe(),
            )));
        }
        listeners.push(tokio::spawn(
            accord_service::device_list_announcer::run_device_list_announcer(services.clone(), shutdown.subscribe()),
        ));
        listeners.push(tokio::spawn(accord_service::delayed_events::run_delayed_events(
            services.clone(),
            shutdown.subscribe(),
        )));
        listeners.push(tokio::spawn(accord_service::push::run_push(
            services.clone(),
            shutdown.subscribe(),
        )));
        listeners.push(tokio::spawn(accord_service::appservice::run_appservice_delivery(
            services.clone(),
            shutdown.subscribe(),
        )));
        listeners.push(tokio::spawn(accord_service::retention::run_retention_job(
            services.clone(),
            shutdown.subscribe(),
        )));
        listeners.push(tokio::spawn(accord_service::search::run_search_indexer(
            services.search.clone(),
            shutdown.subscribe(),
        )));
        tracing::info!(server_name = %config.server_name, %client_addr, ?federation_addr, ?metrics_addr, "Accord is serving");
        Ok(Self {
            client_addr,
            federation_addr,
            metrics_addr,
            services,
            shutdown,
            listeners,
        })
    }

    /// Applies the reloadable part of a new configuration (SIGHUP): the federation allow and
    /// deny lists, and the application service registrations. Other keys need a restart.
    pub fn reload(&self, config: &Config) {
        let mut record = accord_db::AuditEvent::new(accord_service::audit::kinds::CONFIG_RELOADED).actor("SIGHUP");
        match self.services.reload_appservices(config) {
            Ok(count) => {
                tracing::info!(count, "application service registrations reloaded");
                record = record.detail("appservices", count);
            }
            Err(err) => {
                tracing::error!(%err, "application service registrations not reloaded; the previous ones stay");
                record = record.detail("appservices_error", err.to_string());
            }
        }
        if let Some(federation) = &self.services.federation {
            federation.set_policy(accord_federation::ServerPolicy::new(
                &config.federation.allowed_servers,
                &config.federation.denied_servers,
            ));
            tracing::info!(
                allowed = ?config.federation.allowed_servers,
                denied = ?config.federation.denied_servers,
                "federation allow/deny lists reloaded"
            );
            record = record
                .detail("allowed_servers", config.federation.allowed_servers.clone())
                .detail("denied_servers", config.federation.denied_servers.clone());
        }
        self.services.audit.record(record);
    }

    /// Records a reload that was refused (the new file did not load); the running
    /// configuration stays.
    pub fn reload_refused(&self, error: &str) {
        tracing::error!(%error, "configuration reload failed; keeping the current one");
        let record = accord_db::AuditEvent::new(accord_service::audit::kinds::CONFIG_RELOADED)
            .actor("SIGHUP")
            .detail("error", error);
        self.services.audit.record(record);
    }

    /// Stops accepting, lets in-flight requests finish (up to a grace period), flushes storage.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        self.services.rooms.stop_background();
        for task in self.listeners {
            let _ = task.await;
        }
        if let Err(err) = self.services.db().flush() {
            tracing::warn!(%err, "flush at shutdown failed (data is safe in the write-ahead log)");
        }
        tracing::info!("Accord stopped");
    }
}
