//! Deleting account data (MSC3391, unstable `org.matrix.msc3391`; Synapse serves it and
//! Complement's msc3391 tests use it). ruma has no types for these two endpoints, so they are
//! declared here with ruma's own request macros, and so parsed, authenticated and routed like
//! every other endpoint.

use accord_service::Services;

use crate::{Result, Ruma};

/// `DELETE /_matrix/client/unstable/org.matrix.msc3391/user/{userId}/account_data/{type}`
pub mod delete_global {
    use ruma::{
        OwnedUserId,
        api::{auth_scheme::AccessToken, request, response},
        metadata,
    };

    metadata! {
        method: DELETE,
        rate_limited: false,
        authentication: AccessToken,
        history: {
            unstable => "/_matrix/client/unstable/org.matrix.msc3391/user/{user_id}/account_data/{event_type}",
        }
    }

    /// The request: whose data, and which type.
    #[request]
    pub struct Request {
        /// The user whose data it is (the caller).
        #[ruma_api(path)]
        pub user_id: OwnedUserId,
        /// The account data type.
        #[ruma_api(path)]
        pub event_type: String,
    }

    /// The empty answer.
    #[response]
    #[derive(Default)]
    pub struct Response {}
}

/// `DELETE /_matrix/client/unstable/org.matrix.msc3391/user/{userId}/rooms/{roomId}/account_data/{type}`
pub mod delete_room {
    use ruma::{
        OwnedRoomId, OwnedUserId,
        api::{auth_scheme::AccessToken, request, response},
        metadata,
    };

    metadata! {
        method: DELETE,
        rate_limited: false,
        authentication: AccessToken,
        history: {
            unstable => "/_matrix/client/unstable/org.matrix.msc3391/user/{user_id}/rooms/{room_id}/account_data/{event_type}",
        }
    }

    /// The request: whose data, in which room, and which type.
    #[request]
    pub struct Request {
        /// The user whose data it is (the caller).
        #[ruma_api(path)]
        pub user_id: OwnedUserId,
        /// The room the data belongs to.
        #[ruma_api(path)]
        pub room_id: OwnedRoomId,
        /// The account data type.
        #[ruma_api(path)]
        pub event_type: String,
    }

    /// The empty answer.
    #[response]
    #[derive(Default)]
    pub struct Response {}
}

/// # `DELETE /_matrix/client/unstable/org.matrix.msc3391/user/{userId}/account_data/{type}`
pub async fn delete_global_route(
    services: Services,
    request: Ruma<delete_global::Request>,
) -> Result<delete_global::Response> {
    let body = request.body;
    services
        .account_data
        .delete(&request.auth.user_id, &body.user_id, None, &body.event_type)?;
    Ok(delete_global::Response::default())
}

/// # `DELETE /_matrix/client/unstable/org.matrix.msc3391/user/{userId}/rooms/{roomId}/account_data/{type}`
pub async fn delete_room_route(
    services: Services,
    request: Ruma<delete_room::Request>,
) -> Result<delete_room::Response> {
    let body = request.body;
    services.account_data.delete(
        &request.auth.user_id,
        &body.user_id,
        Some(&body.room_id),
        &body.event_type,
    )?;
    Ok(delete_room::Response::default())
}
