//! `GET /_matrix/client/v3/sync`.

use std::time::Duration;

use crate::{ApiError, Result, Ruma};
use accord_service::{Services, sync::SyncRequest};
use ruma::api::client::{
    filter::FilterDefinition,
    sync::sync_events::v3::{self as sync_events, Filter},
};

/// The unstable name of `use_state_after` (MSC4222), which matrix-js-sdk (Element Web) sends
/// on every `/sync`; it then reads only the unstable `org.matrix.msc4222.state_after`.
const UNSTABLE_USE_STATE_AFTER: &str = "org.matrix.msc4222.use_state_after";

/// Which name `state_after` is written under: the one matching how the client asked for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateAfterName {
    /// `state_after` (spec v1.16).
    Stable,
    /// `org.matrix.msc4222.state_after`.
    Unstable,
}

/// # `GET /_matrix/client/v3/sync`
pub async fn sync_events_route(
    services: Services,
    request: Ruma<sync_events::Request>,
) -> Result<(sync_events::Response, StateAfterName)> {
    let unstable = unstable_state_after(request.query.as_deref());
    let body = request.body;
    let user = request.auth;
    let filter_text = match &body.filter {
        Some(Filter::FilterDefinition(definition)) => Some(inline(definition)?),
        Some(Filter::FilterId(id)) => Some(id.clone()),
        Some(_) | None => None,
    };
    let filter = services.sync_filter(&user.user_id, filter_text.as_deref())?;
    let name = if unstable && !body.use_state_after {
        StateAfterName::Unstable
    } else {
        StateAfterName::Stable
    };
    let request = SyncRequest {
        since: body.since,
        full_state: body.full_state,
        timeout: body.timeout.unwrap_or(Duration::ZERO),
        set_presence: body.set_presence.as_str().to_owned(),
        filter,
        use_state_after: body.use_state_after || unstable,
    };
    Ok((services.sync(&user, request).await?, name))
}

/// Whether the query asks for `state_after` under its unstable name.
fn unstable_state_after(query: Option<&str>) -> bool {
    query.is_some_and(|query| {
        query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .any(|(key, value)| key == UNSTABLE_USE_STATE_AFTER && value == "true")
    })
}

fn inline(definition: &FilterDefinition) -> Result<String> {
    serde_json::to_string(definition).map_err(|err| ApiError::from(accord_service::Error::Internal(err.to_string())))
}
