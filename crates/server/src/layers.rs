//! The HTTP layers every router gets: one log line per request (method, route template,
//! status, latency; never the query string, which may hold a token), panics turned into
//! 500 `M_UNKNOWN`, and the CORS headers the spec asks of servers for web clients.

use std::{any::Any, time::Instant};

use axum::{
    Router,
    extract::{MatchedPath, Request},
    middleware::{self, Next},
    response::Response,
};
use http::{HeaderValue, Method, StatusCode, header};
use ruma::api::error::ErrorKind;
use tower_http::{catch_panic::CatchPanicLayer, cors::CorsLayer};

/// Wraps a router in the standard layers.
pub fn wrap(router: Router) -> Router {
    router
        .layer(middleware::from_fn(log_request))
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

async fn log_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned())
        .unwrap_or_else(|| "<unmatched>".to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    tracing::info!(target: "accord::http", %method, %route, status, latency_ms = format!("{latency_ms:.1}"), "request");
    response
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
