//! Server-server API handlers. The federation issue fills this in; for now the listener
//! answers the version probe and refuses everything else the Matrix way.

mod version;

use accord_service::Services;
use axum::Router;

use crate::router::{RumaRouter, with_fallbacks};

/// Builds the federation router over `services`.
pub fn router(services: Services) -> Router {
    let router = Router::new().ruma_route(version::get_server_version_route);
    with_fallbacks(router).with_state(services)
}
