//! Stored JSON handed to ruma's typed responses as `Raw<T>`, and typed request parts turned
//! into the JSON the database stores. The JSON is carried as is: a stored key or event is never
//! parsed into ruma's types and serialized again on the way out.

use ruma::serde::Raw;
use serde_json::Value;

use crate::{Error, Result};

/// Stored JSON (an event, a device's keys, a backup's key data) as `Raw<T>`.
pub(crate) fn raw_json<T>(value: &Value) -> Result<Raw<T>> {
    serde_json::value::to_raw_value(value)
        .map(Raw::from_json)
        .map_err(|err| Error::Internal(format!("stored JSON failed to serialize: {err}")))
}

/// Stored JSON values as `Raw<T>`, in order.
pub(crate) fn raw_jsons<T>(values: &[Value]) -> Result<Vec<Raw<T>>> {
    values.iter().map(raw_json).collect()
}

/// A client's raw request part as the JSON to store; JSON that isn't an object is `M_BAD_JSON`.
pub(crate) fn json_of<T>(raw: &Raw<T>) -> Result<Value> {
    raw.deserialize_as::<Value>()
        .map_err(|err| Error::bad_json(err.to_string()))
}
