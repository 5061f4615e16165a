//! Third-party networks (spec: client-server "Third-party networks"): lookups answered by the
//! bridges (application services) that serve each protocol.

use accord_service::Services;
use ruma::api::client::thirdparty::{
    get_location_for_protocol, get_location_for_room_alias, get_protocol, get_protocols, get_user_for_protocol,
    get_user_for_user_id,
};

use crate::{Result, Ruma};

/// # `GET /_matrix/client/v3/thirdparty/protocols`
pub async fn get_protocols_route(
    services: Services,
    _: Ruma<get_protocols::v3::Request>,
) -> Result<get_protocols::v3::Response> {
    Ok(get_protocols::v3::Response::new(services.thirdparty_protocols().await))
}

/// # `GET /_matrix/client/v3/thirdparty/protocol/{protocol}`
pub async fn get_protocol_route(
    services: Services,
    request: Ruma<get_protocol::v3::Request>,
) -> Result<get_protocol::v3::Response> {
    Ok(get_protocol::v3::Response::new(
        services.thirdparty_protocol(&request.body.protocol).await?,
    ))
}

/// # `GET /_matrix/client/v3/thirdparty/location/{protocol}`
pub async fn get_location_for_protocol_route(
    services: Services,
    request: Ruma<get_location_for_protocol::v3::Request>,
) -> Result<get_location_for_protocol::v3::Response> {
    let body = request.body;
    Ok(get_location_for_protocol::v3::Response::new(
        services.thirdparty_locations(&body.protocol, body.fields).await,
    ))
}

/// # `GET /_matrix/client/v3/thirdparty/user/{protocol}`
pub async fn get_user_for_protocol_route(
    services: Services,
    request: Ruma<get_user_for_protocol::v3::Request>,
) -> Result<get_user_for_protocol::v3::Response> {
    let body = request.body;
    Ok(get_user_for_protocol::v3::Response::new(
        services.thirdparty_users(&body.protocol, body.fields).await,
    ))
}

/// # `GET /_matrix/client/v3/thirdparty/location?alias=`
pub async fn get_location_for_room_alias_route(
    services: Services,
    request: Ruma<get_location_for_room_alias::v3::Request>,
) -> Result<get_location_for_room_alias::v3::Response> {
    Ok(get_location_for_room_alias::v3::Response::new(
        services.thirdparty_locations_for_alias(request.body.alias).await,
    ))
}

/// # `GET /_matrix/client/v3/thirdparty/user?userid=`
pub async fn get_user_for_user_id_route(
    services: Services,
    request: Ruma<get_user_for_user_id::v3::Request>,
) -> Result<get_user_for_user_id::v3::Response> {
    Ok(get_user_for_user_id::v3::Response::new(
        services.thirdparty_users_for_user_id(request.body.userid).await,
    ))
}
