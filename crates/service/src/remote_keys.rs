//! Device keys of users on other servers: `/keys/query` and `/keys/claim` ask each server once
//! for all of its users (`/user/keys/query`, `/user/keys/claim`), all servers at once, each
//! within the client's timeout; a server that fails or is too slow is named in `failures`.

use std::{collections::BTreeMap, time::Duration};

use ruma::{
    OwnedDeviceId, OwnedServerName, OwnedUserId,
    api::federation::keys::{claim_keys::v1 as claim_keys, get_keys::v1 as get_keys},
};
use serde_json::{Map, Value, json};

use crate::{Result, Services};

/// How long remote servers get when the client gives no timeout.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Splits `wanted` into this server's users and the other servers' users.
fn by_server<T: Clone>(
    ours: &ruma::ServerName,
    wanted: &BTreeMap<OwnedUserId, T>,
) -> (
    BTreeMap<OwnedUserId, T>,
    BTreeMap<OwnedServerName, BTreeMap<OwnedUserId, T>>,
) {
    let mut local = BTreeMap::new();
    let mut remote: BTreeMap<OwnedServerName, BTreeMap<OwnedUserId, T>> = BTreeMap::new();
    for (user_id, value) in wanted {
        if user_id.server_name() == ours {
            local.insert(user_id.clone(), value.clone());
        } else {
            remote
                .entry(user_id.server_name().to_owned())
                .or_default()
                .insert(user_id.clone(), value.clone());
        }
    }
    (local, remote)
}

fn failure(message: impl std::fmt::Display) -> Value {
    json!({ "status": 503, "message": message.to_string() })
}

impl Services {
    /// `POST /keys/query`: device keys of local and remote users.
    pub async fn query_keys_anywhere(
        &self,
        wanted: &BTreeMap<OwnedUserId, Vec<OwnedDeviceId>>,
        timeout: Option<Duration>,
    ) -> Result<Value> {
        let (local, remote) = by_server(&self.config.server_name, wanted);
        let mut device_keys = self.local_device_keys(&local, true)?;
        let mut failures = Map::new();
        let timeout = timeout.unwrap_or(DEFAULT_TIMEOUT);
        let asks = remote.into_iter().map(|(server, users)| async move {
            let answer = match &self.federation {
                None => Err(failure("federation is disabled on this server")),
                Some(federation) => {
                    let request = get_keys::Request::new(users);
                    match tokio::time::timeout(timeout, federation.client().send(&server, request)).await {
                        Ok(Ok(response)) => Ok(response.device_keys),
                        Ok(Err(err)) => Err(failure(err)),
                        Err(_) => Err(failure(format!("no answer within {} ms", timeout.as_millis()))),
                    }
                }
            };
            (server, answer)
        });
        for (server, answer) in futures::future::join_all(asks).await {
            match answer {
                Ok(keys) => {
                    for (user_id, devices) in keys {
                        // Only the server's own users.
                        if user_id.server_name() == server {
                            device_keys.insert(user_id.to_string(), json!(devices));
                        }
                    }
                }
                Err(reason) => {
                    tracing::info!(%server, %reason, "remote key query failed");
                    failures.insert(server.to_string(), reason);
                }
            }
        }
        Ok(json!({ "device_keys": device_keys, "failures": failures }))
    }

    /// `POST /keys/claim`: one key per listed device, local and remote.
    pub async fn claim_keys_anywhere(
        &self,
        wanted: &BTreeMap<OwnedUserId, BTreeMap<OwnedDeviceId, String>>,
        timeout: Option<Duration>,
    ) -> Result<Value> {
        let (local, remote) = by_server(&self.config.server_name, wanted);
        let mut one_time_keys = self.claim_local_keys(&local)?;
        let mut failures = Map::new();
        let timeout = timeout.unwrap_or(DEFAULT_TIMEOUT);
        let asks = remote.into_iter().map(|(server, users)| async move {
            let answer = match &self.federation {
                None => Err(failure("federation is disabled on this server")),
                Some(federation) => {
                    let claims = users
                        .into_iter()
                        .map(|(user, devices)| {
                            let devices = devices
                                .into_iter()
                                .map(|(device, algorithm)| (device, algorithm.as_str().into()))
                                .collect();
                            (user, devices)
                        })
                        .collect();
                    let request = claim_keys::Request::new(claims);
                    match tokio::time::timeout(timeout, federation.client().send(&server, request)).await {
                        Ok(Ok(response)) => Ok(response.one_time_keys),
                        Ok(Err(err)) => Err(failure(err)),
                        Err(_) => Err(failure(format!("no answer within {} ms", timeout.as_millis()))),
                    }
                }
            };
            (server, answer)
        });
        for (server, answer) in futures::future::join_all(asks).await {
            match answer {
                Ok(keys) => {
                    for (user_id, devices) in keys {
                        if user_id.server_name() == server {
                            one_time_keys.insert(user_id.to_string(), json!(devices));
                        }
                    }
                }
                Err(reason) => {
                    tracing::info!(%server, %reason, "remote key claim failed");
                    failures.insert(server.to_string(), reason);
                }
            }
        }
        Ok(json!({ "one_time_keys": one_time_keys, "failures": failures }))
    }
}
