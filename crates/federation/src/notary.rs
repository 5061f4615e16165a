//! This server's signing keys as published at `/_matrix/key/v2/server`, and the notary service
//! (`/_matrix/key/v2/query`): other servers' key answers, countersigned by us.

use std::time::Duration;

use accord_core::time::now_millis;
use ruma::{CanonicalJsonObject, CanonicalJsonValue, ServerName, serde::Base64, signatures::sign_json};

use crate::{Error, Federation, Result};

/// How long other servers may cache our key before asking again.
const KEY_VALIDITY: Duration = Duration::from_secs(24 * 60 * 60);

impl Federation {
    /// Our key answer: the current verify key, valid for a day, and the retired ones with when
    /// they stopped signing; self-signed.
    pub fn own_keys(&self) -> Result<CanonicalJsonObject> {
        let identity = &self.identity;
        let mut key = CanonicalJsonObject::new();
        let public = Base64::<ruma::serde::base64::Standard, _>::new(identity.key.public_key()).encode();
        key.insert("key".to_owned(), CanonicalJsonValue::String(public));
        let mut verify_keys = CanonicalJsonObject::new();
        verify_keys.insert(
            format!("ed25519:{}", identity.key.version()),
            CanonicalJsonValue::Object(key),
        );
        let valid_until = now_millis().saturating_add(u64::try_from(KEY_VALIDITY.as_millis()).unwrap_or(u64::MAX));
        let mut old_verify_keys = CanonicalJsonObject::new();
        for old in identity.old_keys.iter() {
            let public = Base64::<ruma::serde::base64::Standard, _>::new(&old.public_key).encode();
            let mut entry = CanonicalJsonObject::new();
            entry.insert("key".to_owned(), CanonicalJsonValue::String(public));
            entry.insert(
                "expired_ts".to_owned(),
                CanonicalJsonValue::Integer(ruma::Int::try_from(old.expired_ts).unwrap_or(ruma::Int::MAX)),
            );
            old_verify_keys.insert(old.key_id.clone(), CanonicalJsonValue::Object(entry));
        }
        let mut object = CanonicalJsonObject::new();
        object.insert(
            "old_verify_keys".to_owned(),
            CanonicalJsonValue::Object(old_verify_keys),
        );
        object.insert(
            "server_name".to_owned(),
            CanonicalJsonValue::String(identity.server_name.to_string()),
        );
        object.insert(
            "valid_until_ts".to_owned(),
            CanonicalJsonValue::Integer(ruma::Int::try_from(valid_until).unwrap_or(ruma::Int::MAX)),
        );
        object.insert("verify_keys".to_owned(), CanonicalJsonValue::Object(verify_keys));
        sign_json(identity.server_name.as_str(), identity.key.as_ref(), &mut object)
            .map_err(|err| Error::Tls(format!("signing our key answer failed: {err}")))?;
        Ok(object)
    }

    /// The notary answer for `server`: its own signed keys plus our signature. `None` when the
    /// server is not allowed (closed federation: nothing is fetched) or unreachable.
    pub async fn notarised_keys(&self, server: &ServerName) -> Option<CanonicalJsonObject> {
        if server == self.identity.server_name {
            return self.own_keys().ok();
        }
        if !self.allows(server) {
            tracing::warn!(%server, "notary request for a server that is not allowed; nothing fetched");
            return None;
        }
        let mut answer = match self.keys.signed_answer(&self.client, server).await {
            Ok(answer) => answer,
            Err(err) => {
                tracing::info!(%server, %err, "notary could not fetch keys");
                return None;
            }
        };
        sign_json(
            self.identity.server_name.as_str(),
            self.identity.key.as_ref(),
            &mut answer,
        )
        .ok()?;
        Some(answer)
    }
}
