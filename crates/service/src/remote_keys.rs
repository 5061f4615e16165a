//! Device keys of users on other servers: `/keys/query` and `/keys/claim` ask each server once
//! for all of its users (`/user/keys/query`, `/user/keys/claim`), all servers at once, each
//! within the client's timeout; a server that fails or is too slow is named in `failures`.

use std::{collections::BTreeMap, time::Duration};

use ruma::{
    OneTimeKeyAlgorithm, OwnedDeviceId, OwnedServerName, OwnedUserId, UserId,
    api::{
        client::keys::{claim_keys::v3 as client_claim_keys, get_keys::v3 as client_get_keys},
        federation::keys::{claim_keys::v1 as claim_keys, get_keys::v1 as get_keys},
    },
};
use serde_json::{Value, json};

use crate::{
    Result, Services,
    cross_signing::CrossSigningAnswer,
    device_keys::DeviceKeysByUser,
    raw::{json_of, raw_json},
};

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
pub type KeyClaims = BTreeMap<OwnedUserId, BTreeMap<OwnedDeviceId, OneTimeKeyAlgorithm>>;

/// Failures by server name, as `/keys/query` and `/keys/claim` report them.
type Failures = BTreeMap<String, Value>;

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

    /// `POST /keys/query` for `asker`: device and cross-signing keys of local users, of
    /// remote users whose lists are cached and fresh, and of the others through their servers
    /// (whose lists are then fetched into the cache, if they share a room with a local user).
    pub async fn query_keys_anywhere(
        &self,
        asker: &UserId,
        wanted: &BTreeMap<OwnedUserId, Vec<OwnedDeviceId>>,
        timeout: Option<Duration>,
    ) -> Result<client_get_keys::Response> {
        let (local, remote) = by_server(&self.config.server_name, wanted);
        let mut device_keys = self.local_device_keys(&local, true)?;
        let mut cross = CrossSigningAnswer::default();
        self.local_cross_signing_keys(Some(asker), local.keys(), &mut cross)?;
        let mut to_ask: BTreeMap<OwnedServerName, BTreeMap<OwnedUserId, Vec<OwnedDeviceId>>> = BTreeMap::new();
        let mut memo = crate::remote_presence::ResidentMemo::new();
        for (server, users) in remote {
            for (user_id, devices) in users {
                match self.fresh_remote_device_list(&user_id, &mut memo)? {
                    Some(list) => {
                        self.answer_from_cache(asker, &user_id, &devices, list, &mut device_keys, &mut cross)?
                    }
                    None => {
                        to_ask.entry(server.clone()).or_default().insert(user_id, devices);
                    }
                }
            }
        }
        let asked: Vec<OwnedUserId> = to_ask.values().flat_map(|users| users.keys().cloned()).collect();
        let answers = self
            .ask_each_server(to_ask, timeout, |federation, server, users| async move {
                federation.client().send(&server, get_keys::Request::new(users)).await
            })
            .await;
        let mut failures = Failures::new();
        for (server, answer) in answers {
            match answer {
                Ok(response) => self.merge_key_answer(asker, &server, response, &mut device_keys, &mut cross)?,
                Err(reason) => {
                    tracing::info!(%server, %reason, "remote key query failed");
                    failures.insert(server.to_string(), reason);
                }
            }
        }
        for user_id in asked {
            if !failures.contains_key(user_id.server_name().as_str())
                && self.shares_room_with_local_user_memo(&user_id, &mut memo)
            {
                self.spawn_device_list_resync(user_id);
            }
        }
        let mut response = client_get_keys::Response::new();
        response.device_keys = device_keys;
        response.master_keys = cross.master_keys;
        response.self_signing_keys = cross.self_signing_keys;
        response.user_signing_keys = cross.user_signing_keys;
        response.failures = failures;
        Ok(response)
    }

    /// Adds a remote user's cached keys to a `/keys/query` answer.
    fn answer_from_cache(
        &self,
        asker: &UserId,
        user_id: &UserId,
        devices: &[OwnedDeviceId],
        list: accord_db::RemoteDeviceList,
        device_keys: &mut DeviceKeysByUser,
        cross: &mut CrossSigningAnswer,
    ) -> Result<()> {
        let mut by_device = BTreeMap::new();
        for (device_id, device) in list.devices {
            if !devices.is_empty() && !devices.contains(&device_id) {
                continue;
            }
            if let Some(mut keys) = device.keys {
                if let Some(name) = device.display_name {
                    keys["unsigned"] = json!({ "device_display_name": name });
                }
                by_device.insert(device_id, raw_json(&keys)?);
            }
        }
        device_keys.insert(user_id.to_owned(), by_device);
        if let Some(master) = list.master_key {
            let master = self.with_signatures_of(Some(asker), user_id, master)?;
            cross.master_keys.insert(user_id.to_owned(), raw_json(&master)?);
        }
        if let Some(self_signing) = list.self_signing_key {
            cross
                .self_signing_keys
                .insert(user_id.to_owned(), raw_json(&self_signing)?);
        }
        Ok(())
    }

    /// Adds a server's `/user/keys/query` answer for its own users to a `/keys/query` answer.
    fn merge_key_answer(
        &self,
        asker: &UserId,
        server: &ruma::ServerName,
        response: get_keys::Response,
        device_keys: &mut DeviceKeysByUser,
        cross: &mut CrossSigningAnswer,
    ) -> Result<()> {
        let own = |user_id: &UserId| user_id.server_name() == server;
        device_keys.extend(response.device_keys.into_iter().filter(|(u, _)| own(u)));
        for (user_id, master) in response.master_keys.into_iter().filter(|(u, _)| own(u)) {
            let Ok(master) = json_of(&master) else {
                continue;
            };
            let master = self.with_signatures_of(Some(asker), &user_id, master)?;
            cross.master_keys.insert(user_id, raw_json(&master)?);
        }
        cross
            .self_signing_keys
            .extend(response.self_signing_keys.into_iter().filter(|(u, _)| own(u)));
        Ok(())
    }

    /// `POST /keys/claim`: one key per listed device, local and remote.
    pub async fn claim_keys_anywhere(
        &self,
        wanted: &KeyClaims,
        timeout: Option<Duration>,
    ) -> Result<client_claim_keys::Response> {
        let (local, remote) = by_server(&self.config.server_name, wanted);
        let mut one_time_keys = self.claim_local_keys(&local)?;
        let answers = self
            .ask_each_server(remote, timeout, |federation, server, users: KeyClaims| async move {
                let response = federation
                    .client()
                    .send(&server, claim_keys::Request::new(users))
                    .await?;
                Ok(response.one_time_keys)
            })
            .await;
        let failures = merge(answers, &mut one_time_keys, "key claim");
        let mut response = client_claim_keys::Response::new(one_time_keys);
        response.failures = failures;
        Ok(response)
    }
}

/// Adds each server's answer for its own users to `into`; returns the failures by server.
fn merge<D>(
    answers: Vec<ServerAnswer<BTreeMap<OwnedUserId, D>>>,
    into: &mut BTreeMap<OwnedUserId, D>,
    what: &str,
) -> Failures {
    let mut failures = Failures::new();
    for (server, answer) in answers {
        match answer {
            Ok(users) => {
                // Only the server's own users.
                into.extend(users.into_iter().filter(|(user_id, _)| user_id.server_name() == server));
            }
            Err(reason) => {
                tracing::info!(%server, %reason, "remote {what} failed");
                failures.insert(server.to_string(), reason);
            }
        }
    }
    failures
}
