//! Events the service renders as JSON (with their `unsigned`, redactions and bundled data
//! applied), handed to ruma's typed responses as `Raw`: the JSON is carried as is, never parsed
//! again into event types on the way out.

use accord_service::Error;
use ruma::serde::Raw;
use serde_json::Value;

use crate::{ApiError, Result};

/// One rendered event (or content) as `Raw<T>`.
pub(crate) fn raw<T>(value: &Value) -> Result<Raw<T>> {
    serde_json::value::to_raw_value(value)
        .map(Raw::from_json)
        .map_err(|err| ApiError::from(Error::Internal(format!("an event failed to serialize: {err}"))))
}

/// Rendered events as `Raw<T>`, in order.
pub(crate) fn raws<T>(values: &[Value]) -> Result<Vec<Raw<T>>> {
    values.iter().map(raw).collect()
}
