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

/// One server's answer, or the failure to report for it.
type ServerAnswer<R> = (OwnedServerName, std::result::Result<R, Value>);

/// Per-user requests, as the client API gives them: user -> device -> algorithm.
pub type KeyClaims = BTreeMap<OwnedUserId, BTreeMap<OwnedDeviceId, String>>;

/// `claims` with each algorithm as a string.
pub fn claims_from<A: ToString>(claims: BTreeMap<OwnedUserId, BTreeMap<OwnedDeviceId, A>>) -> KeyClaims {
    claims
        .into_iter()
        .map(|(user, devices)| {
            let devices = devices
                .into_iter()
                .map(|(device, algorithm)| (device, algorithm.to_string()))
                .collect();
            (user, devices)
        })
        .collect()
}

impl Services {
    /// Sends one request per server (built by `request` from that server's users), all at
    /// once, each within `timeout`; returns each server's answer or the failure to report.
    /// (`request` gets its own handle on the cheap-to-clone federation client.)
    async fn ask_each_server<T, R, F, Fut>(
        &self,
        remote: BTreeMap<OwnedServerName, T>,
        timeout: Option<Duration>,
        request: F,
    ) -> Vec<ServerAnswer<R>>
    where
        F: Fn(accord_federation::Federation, OwnedServerName, T) -> Fut,
        Fut: std::future::Future<Output = std::result::Result<R, accord_federation::Error>>,
    {
        let timeout = timeout.unwrap_or(DEFAULT_TIMEOUT);
        let request = &request;
        let asks = remote.into_iter().map(|(server, users)| async move {
            let answer = match &self.federation {
                None => Err(failure("federation is disabled on this server")),
                Some(federation) => {
                    match tokio::time::timeout(timeout, request(federation.clone(), server.clone(), users)).await {
                        Ok(Ok(answer)) => Ok(answer),
                        Ok(Err(err)) => Err(failure(err)),
                        Err(_) => Err(failure(format!("no answer within {} ms", timeout.as_millis()))),
                    }
                }
            };
            (server, answer)
        });
        futures::future::join_all(asks).await
    }

    /// `POST /keys/query`: device keys of local and remote users.
    pub async fn query_keys_anywhere(
        &self,
        wanted: &BTreeMap<OwnedUserId, Vec<OwnedDeviceId>>,
        timeout: Option<Duration>,
    ) -> Result<Value> {
        let (local, remote) = by_server(&self.config.server_name, wanted);
        let mut device_keys = self.local_device_keys(&local, true)?;
        let answers = self
            .ask_each_server(remote, timeout, |federation, server, users| async move {
                let response = federation.client().send(&server, get_keys::Request::new(users)).await?;
                Ok(response.device_keys)
            })
            .await;
        let failures = merge(answers, &mut device_keys, "key query");
        Ok(json!({ "device_keys": device_keys, "failures": failures }))
    }

    /// `POST /keys/claim`: one key per listed device, local and remote.
    pub async fn claim_keys_anywhere(&self, wanted: &KeyClaims, timeout: Option<Duration>) -> Result<Value> {
        let (local, remote) = by_server(&self.config.server_name, wanted);
        let mut one_time_keys = self.claim_local_keys(&local)?;
        let answers = self
            .ask_each_server(
                remote,
                timeout,
                |federation, server, users: BTreeMap<_, BTreeMap<_, String>>| async move {
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
                    let response = federation
                        .client()
                        .send(&server, claim_keys::Request::new(claims))
                        .await?;
                    Ok(response.one_time_keys)
                },
            )
            .await;
        let failures = merge(answers, &mut one_time_keys, "key claim");
        Ok(json!({ "one_time_keys": one_time_keys, "failures": failures }))
    }
}

/// Adds each server's answer for its own users to `into`; returns the failures by server.
fn merge<D: serde::Serialize>(
    answers: Vec<ServerAnswer<BTreeMap<OwnedUserId, D>>>,
    into: &mut Map<String, Value>,
    what: &str,
) -> Map<String, Value> {
    let mut failures = Map::new();
    for (server, answer) in answers {
        match answer {
            Ok(users) => {
                for (user_id, devices) in users {
                    // Only the server's own users.
                    if user_id.server_name() == server {
                        into.insert(user_id.to_string(), json!(devices));
                    }
                }
            }
            Err(reason) => {
                tracing::info!(%server, %reason, "remote {what} failed");
                failures.insert(server.to_string(), reason);
            }
        }
    }
    failures
}
