//! Signing keys: this server's (`/_matrix/key/v2/server`) and, as a notary, other servers'
//! countersigned by us (`/_matrix/key/v2/query`).

use accord_service::{Error, Services};
use ruma::api::federation::discovery::{
    get_remote_server_keys::v2 as get_remote_server_keys,
    get_remote_server_keys_batch::v2 as get_remote_server_keys_batch, get_server_keys::v2 as get_server_keys,
};
use serde_json::{Value, json};

use crate::{ApiError, Result, Ruma};

fn to_json<T: serde::Serialize>(value: &T) -> Result<Value> {
    serde_json::to_value(value).map_err(|err| ApiError::from(Error::Internal(err.to_string())))
}

/// # `GET /_matrix/key/v2/server`
pub async fn get_server_keys_route(services: Services, _: Ruma<get_server_keys::Request>) -> Result<Value> {
    to_json(&services.own_server_keys()?)
}

/// # `GET /_matrix/key/v2/query/{serverName}`
pub async fn get_remote_server_keys_route(
    services: Services,
    request: Ruma<get_remote_server_keys::Request>,
) -> Result<Value> {
    let answer = services.notarised_keys(&request.body.server_name).await?;
    Ok(json!({ "server_keys": answer.into_iter().collect::<Vec<_>>() }))
}

/// # `POST /_matrix/key/v2/query`
pub async fn get_remote_server_keys_batch_route(
    services: Services,
    request: Ruma<get_remote_server_keys_batch::Request>,
) -> Result<Value> {
    let mut answers = Vec::new();
    for server in request.body.server_keys.keys() {
        if let Some(answer) = services.notarised_keys(server).await? {
            answers.push(answer);
        }
    }
    Ok(json!({ "server_keys": answers }))
}
