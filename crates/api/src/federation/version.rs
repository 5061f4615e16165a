//! `GET /_matrix/federation/v1/version`: who we are, for other servers and for operators.

use accord_service::Services;
use ruma::api::federation::discovery::get_server_version::v1 as get_server_version;

use crate::{Result, Ruma};

/// # `GET /_matrix/federation/v1/version`
pub async fn get_server_version_route(
    _: Services,
    _: Ruma<get_server_version::Request>,
) -> Result<get_server_version::Response> {
    let mut server = get_server_version::Server::new();
    server.name = Some("Accord".to_owned());
    server.version = Some(env!("CARGO_PKG_VERSION").to_owned());
    let mut response = get_server_version::Response::new();
    response.server = Some(server);
    Ok(response)
}
