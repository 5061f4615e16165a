//! Federation queries answered from local data.

use accord_service::{Error, Services};
use ruma::api::federation::query::{
    get_profile_information::v1 as get_profile_information, get_room_information::v1 as get_room_information,
};

use crate::{ApiError, Result, Ruma};

/// # `GET /_matrix/federation/v1/query/profile`
pub async fn get_profile_information_route(
    services: Services,
    request: Ruma<get_profile_information::Request>,
) -> Result<get_profile_information::Response> {
    let body = request.body;
    if body.user_id.server_name() != services.config.server_name {
        return Err(ApiError::from(Error::invalid_param("The user is not on this server")));
    }
    let profile = services.profiles.get(&body.user_id)?;
    let mut response = get_profile_information::Response::new();
    for (field, value) in profile {
        if body.field.as_ref().is_none_or(|wanted| wanted.as_str() == field) {
            response.data.set(field, value);
        }
    }
    Ok(response)
}

/// # `GET /_matrix/federation/v1/query/directory`
pub async fn get_room_information_route(
    services: Services,
    request: Ruma<get_room_information::Request>,
) -> Result<get_room_information::Response> {
    let alias = &request.body.room_alias;
    if alias.server_name() != services.config.server_name {
        return Err(ApiError::from(Error::not_found(format!(
            "{alias} is not an alias on this server"
        ))));
    }
    let room_id = services.rooms.resolve_alias(alias)?;
    Ok(get_room_information::Response::new(
        room_id,
        vec![services.config.server_name.clone()],
    ))
}
