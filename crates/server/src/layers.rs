//! The HTTP layers every router gets: a request id on every log line of the request (and in
//! the `X-Request-Id` answer header), one log line per request (method, route template,
//! status, latency; never the query string, which may hold a token), a time limit per request,
//! panics turned into 500 `M_UNKNOWN`, and the CORS headers the spec asks of servers for web
//! clients.

use std::{
    any::Any,
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

use axum::{
    Router,
    extract::{MatchedPath, Request},
    middleware::{self, Next},
    response::Response,
};
use http::{HeaderValue, Method, StatusCode, header};
use ruma::api::error::ErrorKind;
use tower_http::{catch_panic::CatchPanicLayer, cors::CorsLayer};
use tracing::Instrument;

use crate::metrics::HttpMetrics;

/// The longest any request may run: above the longest `/sync` long-poll (2 minutes), and
/// room for a remote join of a large room. A request cut off gets 504; what it wrote is whole
/// (every operation is one batch) and what it left to do in the background finishes.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(180);

/// Wraps a router in the standard layers; `metrics` (when `[metrics]` is on) counts its
/// requests under the `listener` label.
pub fn wrap(router: Router, listener: &'static str, metrics: Option<HttpMetrics>) -> Router {
    router
        .layer(middleware::from_fn(move |request: Request, next: Next| {
            log_request(request, next, listener, metrics.clone())
        }))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(cors())
}

/// The spec's CORS headers ("Web Browser Clients" in the client-server API).
fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(tower_http::cors::Any)
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE, Method::OPTIONS])
        .allow_headers([
            header::HeaderName::from_static("x-requested-with"),
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
        ])
}

/// A new id for a request: the process start time and a counter, so ids stay unique across
/// restarts and sort in arrival order.
fn next_request_id() -> String {
    static STARTED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let started = STARTED.get_or_init(accord_core::time::now_millis);
    format!("{started:x}-{:x}", NEXT.fetch_add(1, Ordering::Relaxed))
}

async fn log_request(request: Request, next: Next, listener: &'static str, metrics: Option<HttpMetrics>) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned())
        .unwrap_or_else(|| "<unmatched>".to_owned());
    let in_flight = metrics.as_ref().map(|metrics| metrics.start(listener, &route));
    let request_id = next_request_id();
    let span = tracing::info_span!("request", id = %request_id);
    // The time limit is applied here rather than in a layer of its own: one middleware per
    // request instead of two on the hot path.
    let mut response = within_time_limit(next.run(request)).instrument(span.clone()).await;
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    if let (Some(metrics), Some(in_flight)) = (&metrics, in_flight) {
        metrics.finish(in_flight, method.as_str(), status, elapsed);
    }
    let latency_ms = elapsed.as_secs_f64() * 1000.0;
    span.in_scope(|| {
        tracing::info!(target: "accord::http", %method, %route, status, latency_ms = format!("{latency_ms:.1}"), "request");
    });
    describe_for_traces(&span, method.as_str(), &route, status);
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

/// Gives the request's span the HTTP attributes of OpenTelemetry's conventions, for
/// `[telemetry]` (a no-op without it); not span fields, so log lines don't repeat them.
fn describe_for_traces(span: &tracing::Span, method: &str, route: &str, status: u16) {
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    span.set_attribute("http.request.method", method.to_owned());
    span.set_attribute("http.route", route.to_owned());
    span.set_attribute("http.response.status_code", i64::from(status));
}

/// The handler's response, or 504 `M_UNKNOWN` when it runs past [`REQUEST_TIMEOUT`].
async fn within_time_limit(handler: impl std::future::Future<Output = Response>) -> Response {
    match tokio::time::timeout(REQUEST_TIMEOUT, handler).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(limit_s = REQUEST_TIMEOUT.as_secs(), "request timed out");
            accord_api::error_response(
                StatusCode::GATEWAY_TIMEOUT,
                ErrorKind::Unknown,
                "The request took too long and was stopped; try again",
            )
        }
    }
}

fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    tracing::error!(%detail, "handler panicked; answered 500");
    let mut response = accord_api::error_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        ErrorKind::Unknown,
        "Internal server error",
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
