//! Room tags (stored as the room's `m.tag` account data).

use accord_service::{Error, Services};
use ruma::api::client::tag::{create_tag, delete_tag, get_tags};
use serde_json::Value;

use crate::{ApiError, Result, Ruma};

/// # `GET /_matrix/client/v3/user/{userId}/rooms/{roomId}/tags`
pub async fn get_tags_route(
    services: Services,
    request: Ruma<get_tags::v3::Request>,
) -> Result<get_tags::v3::Response> {
    let body = request.body;
    let tags = services
        .account_data
        .tags(&request.auth.user_id, &body.user_id, &body.room_id)?;
    let tags = serde_json::from_value(Value::Object(tags))
        .map_err(|err| ApiError::from(Error::Internal(format!("stored tags are unreadable: {err}"))))?;
    Ok(get_tags::v3::Response::new(tags))
}

/// # `PUT /_matrix/client/v3/user/{userId}/rooms/{roomId}/tags/{tag}`
pub async fn create_tag_route(
    services: Services,
    request: Ruma<create_tag::v3::Request>,
) -> Result<create_tag::v3::Response> {
    let body = request.body;
    let info = serde_json::to_value(&body.tag_info)
        .map_err(|err| ApiError::from(Error::Internal(format!("tag info did not serialize: {err}"))))?;
    services
        .account_data
        .set_tag(&request.auth.user_id, &body.user_id, &body.room_id, &body.tag, info)?;
    Ok(create_tag::v3::Response::new())
}

/// # `DELETE /_matrix/client/v3/user/{userId}/rooms/{roomId}/tags/{tag}`
pub async fn delete_tag_route(
    services: Services,
    request: Ruma<delete_tag::v3::Request>,
) -> Result<delete_tag::v3::Response> {
    let body = request.body;
    services
        .account_data
        .delete_tag(&request.auth.user_id, &body.user_id, &body.room_id, &body.tag)?;
    Ok(delete_tag::v3::Response::new())
}
