//! Prometheus metrics on a listener of their own (`[metrics]`): request counts, latencies and
//! requests in flight per route (so `/sync` long-polls show as sync connections), and figures
//! read at each scrape from the server (events written, accounts, rooms, the federation
//! queue and failing partners, the audit log, storage per table) and the process (memory,
//! CPU, files, threads). `/health` answers while the process runs; `/ready` while storage
//! takes writes.

mod http_metrics;
mod process;
mod server_figures;

use std::sync::Arc;

use accord_service::Services;
use axum::{Router, extract::State, http::StatusCode, http::header, response::IntoResponse, routing::get};
use prometheus_client::registry::Registry;

pub use http_metrics::HttpMetrics;

/// The registry and the request metrics the HTTP layer feeds. Cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    /// Fed by every request on the client and federation listeners.
    pub http: HttpMetrics,
}

impl Metrics {
    /// Registers every metric; the scrape-time figures read `services`.
    pub fn new(services: Services) -> Self {
        let mut registry = Registry::with_prefix("accord");
        let http = HttpMetrics::register(&mut registry);
        registry.register_collector(Box::new(server_figures::ServerFigures::new(services)));
        registry.register_collector(Box::new(process::ProcessFigures));
        Self {
            registry: Arc::new(registry),
            http,
        }
    }

    /// The metrics listener's routes.
    pub fn router(&self, services: Services) -> Router {
        Router::new()
            .route("/metrics", get(scrape).with_state(self.registry.clone()))
            .route("/health", get(|| async { "OK" }))
            .route("/ready", get(ready).with_state(services))
    }
}

async fn scrape(State(registry): State<Arc<Registry>>) -> axum::response::Response {
    let mut text = String::new();
    match prometheus_client::encoding::text::encode(&mut text, &registry) {
        Ok(()) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(err) => {
            tracing::error!(%err, "could not encode the metrics");
            (StatusCode::INTERNAL_SERVER_ERROR, "metrics could not be encoded").into_response()
        }
    }
}

/// 200 while storage takes writes; 503 with the reason once it stopped (a restart is needed).
async fn ready(State(services): State<Services>) -> axum::response::Response {
    match services.db().storage_failed() {
        None => (StatusCode::OK, "ready").into_response(),
        Some(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("storage stopped taking writes: {reason}; restart Accord"),
        )
            .into_response(),
    }
}
