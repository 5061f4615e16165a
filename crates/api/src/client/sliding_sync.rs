//! `POST /_matrix/client/unstable/org.matrix.simplified_msc3575/sync` (MSC4186), the sync of
//! Element X and every matrix-rust-sdk client.
//!
//! `pos`, `timeout` and `set_presence` come in the query string, as Synapse reads them and
//! ruma's request type carries them. The accepted MSC moves them into the body, and
//! Complement's MSC4306 tests already send `pos` there, so a body value is taken when the
//! query has none. Likewise the accepted name of the invite filter, `is_invited`, is read
//! beside ruma's `is_invite`, and the list filters ruma's type lacks (`spaces`, and Synapse's
//! `tags` and `not_tags`) are read from the raw body.

use std::time::Duration;

use accord_service::{
    Services,
    sliding_sync::{ExtraFilters, ListExtras},
};
use ruma::{OwnedRoomId, api::client::sync::sync_events::v5, presence::PresenceState};
use serde_json::Value;

use crate::{Result, Ruma};

/// # `POST /_matrix/client/unstable/org.matrix.simplified_msc3575/sync`
pub async fn sliding_sync_route(services: Services, request: Ruma<v5::Request>) -> Result<v5::Response> {
    let mut body = request.body;
    let mut extras = ListExtras::new();
    if let Ok(Value::Object(raw)) = serde_json::from_slice::<Value>(&request.raw_body) {
        take_body_fallbacks(&mut body, &raw, request.query.as_deref());
        extras = extra_filters(&raw)?;
    }
    Ok(services.sliding_sync(&request.auth, body, extras).await?)
}

/// The list filters ruma's type drops: `spaces`, `tags`, `not_tags`.
fn extra_filters(raw: &serde_json::Map<String, Value>) -> Result<ListExtras> {
    let mut extras = ListExtras::new();
    let Some(Value::Object(lists)) = raw.get("lists") else {
        return Ok(extras);
    };
    for (name, list) in lists {
        let filters = &list["filters"];
        let strings = |key: &str| -> Result<Option<Vec<String>>> {
            match &filters[key] {
                Value::Null => Ok(None),
                Value::Array(items) => items
                    .iter()
                    .map(|item| {
                        item.as_str().map(str::to_owned).ok_or_else(|| {
                            accord_service::Error::invalid_param(format!(
                                "list {name:?}: {key} must be a list of strings"
                            ))
                            .into()
                        })
                    })
                    .collect::<Result<Vec<String>>>()
                    .map(Some),
                _ => Err(accord_service::Error::invalid_param(format!("list {name:?}: {key} must be a list")).into()),
            }
        };
        let spaces = strings("spaces")?
            .map(|spaces| {
                spaces
                    .iter()
                    .map(|space| {
                        OwnedRoomId::try_from(space.as_str()).map_err(|_| {
                            accord_service::Error::invalid_param(format!("list {name:?}: {space:?} is not a room id"))
                                .into()
                        })
                    })
                    .collect::<Result<Vec<OwnedRoomId>>>()
            })
            .transpose()?;
        let extra = ExtraFilters {
            spaces,
            tags: strings("tags")?,
            not_tags: strings("not_tags")?.unwrap_or_default(),
        };
        if !extra.is_empty() {
            extras.insert(name.clone(), extra);
        }
    }
    Ok(extras)
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
