//! `GET /_matrix/client/v3/sync`.

use std::time::Duration;

use crate::{ApiError, Result, Ruma};
use accord_service::{Services, sync::SyncRequest};
use ruma::api::client::{
    filter::FilterDefinition,
    sync::sync_events::v3::{self as sync_events, Filter},
};

/// # `GET /_matrix/client/v3/sync`
pub async fn sync_events_route(
    services: Services,
    request: Ruma<sync_events::Request>,
) -> Result<sync_events::Response> {
    let body = request.body;
    let user = request.auth;
    let filter_text = match &body.filter {
        Some(Filter::FilterDefinition(definition)) => Some(inline(definition)?),
        Some(Filter::FilterId(id)) => Some(id.clone()),
        Some(_) | None => None,
    };
    let filter = services.sync_filter(&user.user_id, filter_text.as_deref())?;
    let request = SyncRequest {
        since: body.since,
        full_state: body.full_state,
        timeout: body.timeout.unwrap_or(Duration::ZERO),
        set_presence: body.set_presence.as_str().to_owned(),
        filter,
    };
    Ok(services.sync(&user, request).await?)
}

fn inline(definition: &FilterDefinition) -> Result<String> {
    serde_json::to_string(definition).map_err(|err| ApiError::from(accord_service::Error::Internal(err.to_string())))
}
