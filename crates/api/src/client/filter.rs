//! Stored sync filters.

use accord_service::{Error, Services};
use ruma::api::client::filter::{create_filter, get_filter};

use crate::{ApiError, Result, Ruma};

/// # `POST /_matrix/client/v3/user/{userId}/filter`
pub async fn create_filter_route(
    services: Services,
    request: Ruma<create_filter::v3::Request>,
) -> Result<create_filter::v3::Response> {
    let body = request.body;
    let filter = serde_json::to_value(&body.filter)
        .map_err(|err| ApiError::from(Error::Internal(format!("filter did not serialize: {err}"))))?;
    let filter_id = services.filters.create(&request.auth.user_id, &body.user_id, filter)?;
    Ok(create_filter::v3::Response::new(filter_id))
}

/// # `GET /_matrix/client/v3/user/{userId}/filter/{filterId}`
pub async fn get_filter_route(
    services: Services,
    request: Ruma<get_filter::v3::Request>,
) -> Result<get_filter::v3::Response> {
    let body = request.body;
    let stored = services
        .filters
        .get(&request.auth.user_id, &body.user_id, &body.filter_id)?;
    let filter = serde_json::from_value(stored)
        .map_err(|err| ApiError::from(Error::Internal(format!("stored filter is unreadable: {err}"))))?;
    Ok(get_filter::v3::Response::new(filter))
}
