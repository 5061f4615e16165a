//! Signing keys: this server's (`/_matrix/key/v2/server`) and, as a notary, other servers'
//! countersigned by us (`/_matrix/key/v2/query`).

use accord_service::Services;
use ruma::api::federation::discovery::{
    get_remote_server_keys::v2 as get_remote_server_keys,
    get_remote_server_keys_batch::v2 as get_remote_server_keys_batch, get_server_keys::v2 as get_server_keys,
};

use crate::{Result, Ruma};

/// # `GET /_matrix/key/v2/server`
pub async fn get_server_keys_route(
    services: Services,
    _: Ruma<get_server_keys::Request>,
) -> Result<get_server_keys::Response> {
    Ok(get_server_keys::Response::new(services.own_server_keys()?))
}

/// # `GET /_matrix/key/v2/query/{serverName}`
pub async fn get_remote_server_keys_route(
    services: Services,
    request: Ruma<get_remote_server_keys::Request>,
) -> Result<get_remote_server_keys::Response> {
    let answer = services.notarised_keys(&request.body.server_name).await?;
    Ok(get_remote_server_keys::Response::new(answer.into_iter().collect()))
}

/// # `POST /_matrix/key/v2/query`
pub async fn get_remote_server_keys_batch_route(
    services: Services,
    request: Ruma<get_remote_server_keys_batch::Request>,
) -> Result<get_remote_server_keys_batch::Response> {
    let mut answers = Vec::new();
    for server in request.body.server_keys.keys() {
        if let Some(answer) = services.notarised_keys(server).await? {
            answers.push(answer);
        }
    }
    Ok(get_remote_server_keys_batch::Response::new(answers))
}
