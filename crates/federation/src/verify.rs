//! Verifying inbound `X-Matrix` requests: the destination must be this server, and the
//! signature must verify with the origin's key (fetched from the origin when not cached).

use std::collections::BTreeMap;

use ruma::{OwnedServerName, api::federation::authentication::XMatrix};

use crate::{Error, Federation, Result, keys::Need};

impl Federation {
    /// Checks an inbound request's `X-Matrix` header; returns the authenticated origin.
    pub async fn verify_request(&self, x_matrix: &XMatrix, request: &http::Request<&[u8]>) -> Result<OwnedServerName> {
        let ours = &self.identity.server_name;
        // Closed federation: refuse before fetching any key.
        if !self.allows(&x_matrix.origin) {
            tracing::warn!(origin = %x_matrix.origin, "refused inbound federation request: server not allowed");
            self.refusals.refused(&x_matrix.origin, "inbound request");
            return Err(Error::Forbidden(format!(
                "federation with {} is not allowed on this server",
                x_matrix.origin
            )));
        }
        if x_matrix
            .destination
            .as_deref()
            .is_some_and(|destination| destination != ours)
        {
            return Err(Error::Unauthorized(format!(
                "request is addressed to another server, not {ours}"
            )));
        }
        if x_matrix.origin == *ours {
            return Err(Error::Unauthorized(
                "request claims to come from this server".to_owned(),
            ));
        }
        let keys = self
            .keys
            .keys(
                &self.client,
                &x_matrix.origin,
                Need {
                    key_id: Some(x_matrix.key.as_str()),
                    valid_at: Some(accord_core::time::now_millis()),
                },
            )
            .await
            .map_err(|err| Error::Unauthorized(format!("cannot get the signing keys of {}: {err}", x_matrix.origin)))?;
        let mut map = BTreeMap::new();
        map.insert(x_matrix.origin.to_string(), keys);
        x_matrix
            .verify_http_request(request, ours, &map)
            .map_err(|err| Error::Unauthorized(format!("X-Matrix signature does not verify: {err}")))?;
        self.note_alive(&x_matrix.origin);
        Ok(x_matrix.origin.clone())
    }
}

impl Federation {
    /// The public keys of every server that signed `event`, for `verify_event`: ours from our
    /// identity, others from the key cache (fetched when missing). Servers outside the allow
    /// list are refused. Where the room version enforces key validity (5 and later), a key
    /// that had expired before the event's `origin_server_ts` is refused (another server's) or
    /// left out (ours), so the event fails verification.
    pub async fn event_signing_keys(
        &self,
        event: &ruma::CanonicalJsonObject,
        rules: &ruma::room_version_rules::RoomVersionRules,
    ) -> Result<ruma::signatures::PublicKeyMap> {
        use ruma::CanonicalJsonValue;

        let mut map = BTreeMap::new();
        let Some(CanonicalJsonValue::Object(signatures)) = event.get("signatures") else {
            return Err(Error::Unauthorized("event carries no signatures".to_owned()));
        };
        let origin_server_ts = match event.get("origin_server_ts") {
            Some(CanonicalJsonValue::Integer(ts)) => u64::try_from(i64::from(*ts)).unwrap_or(0),
            _ => 0,
        };
        let valid_at = rules.enforce_key_validity.then_some(origin_server_ts);
        for (server, by_key) in signatures {
            let server = <&ruma::ServerName>::try_from(server.as_str())
                .map_err(|_| Error::Unauthorized(format!("invalid signing server {server}")))?;
            if server == self.identity.server_name {
                map.insert(server.to_string(), self.own_verify_keys(valid_at));
                continue;
            }
            if !self.allows(server) {
                self.refusals.refused(server, "signed event");
                return Err(Error::Forbidden(format!(
                    "federation with {server} is not allowed on this server"
                )));
            }
            let Some(key_id) = by_key.as_object().and_then(|keys| keys.keys().next()) else {
                continue;
            };
            let need = Need {
                key_id: Some(key_id),
                valid_at,
            };
            let keys = self.keys.keys(&self.client, server, need).await?;
            map.insert(server.to_string(), keys);
        }
        Ok(map)
    }

    /// The keys of every server that signed any of `events`, in one map (for checking a set
    /// of events: a join's state, the state at a missing event). An event whose keys can't be
    /// had adds none, so it alone fails verification.
    pub async fn signing_keys_of_all(
        &self,
        events: &[&ruma::CanonicalJsonObject],
        rules: &ruma::room_version_rules::RoomVersionRules,
    ) -> Result<ruma::signatures::PublicKeyMap> {
        let mut keys = ruma::signatures::PublicKeyMap::new();
        // Servers that could not be reached for their keys are not asked again for the next
        // event they signed (hundreds of a join's events may be one server's).
        let mut unreachable = std::collections::BTreeSet::new();
        for event in events {
            let signed_by_unreachable = match event.get("signatures") {
                Some(ruma::CanonicalJsonValue::Object(signatures)) => {
                    signatures.keys().any(|server| unreachable.contains(server))
                }
                _ => false,
            };
            if signed_by_unreachable {
                continue;
            }
            match self.event_signing_keys(event, rules).await {
                Ok(found) => {
                    for (server, set) in found {
                        keys.entry(server).or_default().extend(set);
                    }
                }
                // That event then fails verification and is left out by the room writer; the
                // others still count (a join answer with one event signed by an unknown key
                // must still be joinable: Complement's TestJoinFederatedRoomWithUnverifiableEvents).
                Err(err) => {
                    tracing::info!(%err, "signing keys of one event unavailable");
                    if let Error::Resolve { server, .. } | Error::Transport { server, .. } = err {
                        unreachable.insert(server);
                    }
                }
            }
        }
        Ok(keys)
    }

    /// Our current key, and the retired ones still valid at `valid_at` (all when `None`).
    fn own_verify_keys(&self, valid_at: Option<u64>) -> ruma::signatures::PublicKeySet {
        let mut keys = ruma::signatures::PublicKeySet::new();
        keys.insert(
            format!("ed25519:{}", self.identity.key.version()),
            ruma::serde::Base64::new(self.identity.key.public_key().to_vec()),
        );
        for old in self.identity.old_keys.iter() {
            if valid_at.is_none_or(|at| at <= old.expired_ts) {
                keys.insert(old.key_id.clone(), ruma::serde::Base64::new(old.public_key.clone()));
            }
        }
        keys
    }
}
