//! EDUs this server sends that must arrive (to-device messages, device list and cross-signing
//! updates) go through the durable queue in `accord-db`, which stores them as JSON.

use ruma::api::federation::transactions::edu::Edu;
use serde_json::Value;

use crate::{Error, Result};

/// A typed EDU as the durable queue stores it (`{"edu_type", "content"}`).
pub(crate) fn edu_json(edu: &Edu) -> Result<Value> {
    serde_json::to_value(edu).map_err(|err| Error::Internal(format!("an EDU failed to serialize: {err}")))
}
