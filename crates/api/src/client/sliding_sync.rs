//! `POST /_matrix/client/unstable/org.matrix.simplified_msc3575/sync` (MSC4186), the sync of
//! Element X and every matrix-rust-sdk client.
//!
//! `pos`, `timeout` and `set_presence` come in the query string, as Synapse reads them and
//! ruma's request type carries them. The accepted MSC moves them into the body, and
//! Complement's MSC4306 tests already send `pos` there, so a body value is taken when the
//! query has none. Likewise the accepted name of the invite filter, `is_invited`, is read
//! beside ruma's `is_invite`.

use std::time::Duration;

use accord_service::Services;
use ruma::{api::client::sync::sync_events::v5, presence::PresenceState};
use serde_json::Value;

use crate::{Result, Ruma};

/// # `POST /_matrix/client/unstable/org.matrix.simplified_msc3575/sync`
pub async fn sliding_sync_route(services: Services, request: Ruma<v5::Request>) -> Result<v5::Response> {
    let mut body = request.body;
    if let Ok(Value::Object(raw)) = serde_json::from_slice::<Value>(&request.raw_body) {
        take_body_fallbacks(&mut body, &raw, request.query.as_deref());
    }
    Ok(services.sliding_sync(&request.auth, body).await?)
}

/// Fills what the body carries under the accepted MSC's names and ruma's type left out.
fn take_body_fallbacks(body: &mut v5::Request, raw: &serde_json::Map<String, Value>, query: Option<&str>) {
    let in_query = |name: &str| {
        query.is_some_and(|query| {
            query
                .split('&')
                .any(|pair| pair.split_once('=').map_or(pair, |(key, _)| key) == name)
        })
    };
    if !in_query("pos")
        && let Some(pos) = raw.get("pos").and_then(Value::as_str)
    {
        body.pos = Some(pos.to_owned());
    }
    if !in_query("timeout")
        && let Some(timeout) = raw.get("timeout").and_then(Value::as_u64)
    {
        body.timeout = Some(Duration::from_millis(timeout));
    }
    if !in_query("set_presence")
        && let Some(presence) = raw.get("set_presence").and_then(Value::as_str)
    {
        body.set_presence = PresenceState::from(presence);
    }
    let Some(Value::Object(lists)) = raw.get("lists") else {
        return;
    };
    for (name, list) in lists {
        if let Some(invited) = list["filters"]["is_invited"].as_bool()
            && let Some(filters) = body.lists.get_mut(name).and_then(|list| list.filters.as_mut())
            && filters.is_invite.is_none()
        {
            filters.is_invite = Some(invited);
        }
    }
}
