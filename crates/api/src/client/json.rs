//! Turning ruma's raw request parts into the JSON values the services take; a part that
//! doesn't convert is the client's `M_BAD_JSON`.

use std::collections::BTreeMap;

use accord_service::Error;
use serde_json::Value;

use crate::{ApiError, Result};

/// `raw` as a JSON value.
pub(crate) fn to_value(raw: &impl serde::Serialize) -> Result<Value> {
    serde_json::to_value(raw).map_err(|err| ApiError::from(Error::bad_json(err.to_string())))
}

/// `value` as `T`.
pub(crate) fn from_value<T: serde::de::DeserializeOwned>(value: Value) -> Result<T> {
    serde_json::from_value(value).map_err(|err| ApiError::from(Error::bad_json(err.to_string())))
}

/// Keys by their id (one-time or fallback keys), with string ids and JSON values.
pub(crate) fn keys_by_id<K: ToString, V: serde::Serialize>(keys: &BTreeMap<K, V>) -> Result<BTreeMap<String, Value>> {
    keys.iter()
        .map(|(id, key)| Ok((id.to_string(), to_value(key)?)))
        .collect()
}
