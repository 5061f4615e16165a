//! `GET /_matrix/key/v2/server`: this server's signing keys, self-signed, valid for a day, so
//! other servers can verify our events and requests.

use std::time::Duration;

use accord_core::time::now_millis;
use accord_service::{Error, Services};
use ruma::{
    CanonicalJsonObject, CanonicalJsonValue, api::federation::discovery::get_server_keys::v2 as get_server_keys,
    serde::Base64, signatures::sign_json,
};
use serde_json::Value;

use crate::{ApiError, Result, Ruma};

/// How long other servers may cache our key before asking again.
const KEY_VALIDITY: Duration = Duration::from_secs(24 * 60 * 60);

/// # `GET /_matrix/key/v2/server`
pub async fn get_server_keys_route(services: Services, _: Ruma<get_server_keys::Request>) -> Result<Value> {
    let identity = services.rooms.rooms().identity();
    let key_id = format!("ed25519:{}", identity.key.version());
    let mut key = CanonicalJsonObject::new();
    key.insert(
        "key".to_owned(),
        CanonicalJsonValue::String(Base64::<ruma::serde::base64::Standard, _>::new(identity.key.public_key()).encode()),
    );
    let mut verify_keys = CanonicalJsonObject::new();
    verify_keys.insert(key_id, CanonicalJsonValue::Object(key));
    let valid_until = now_millis().saturating_add(u64::try_from(KEY_VALIDITY.as_millis()).unwrap_or(u64::MAX));
    let mut object = CanonicalJsonObject::new();
    object.insert(
        "old_verify_keys".to_owned(),
        CanonicalJsonValue::Object(CanonicalJsonObject::new()),
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
        .map_err(|err| ApiError::from(Error::Internal(format!("signing the key response failed: {err}"))))?;
    serde_json::to_value(object).map_err(|err| ApiError::from(Error::Internal(err.to_string())))
}
