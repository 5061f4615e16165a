//! The v1 forms of `send_join` and `send_leave`, gone from the spec since v2 replaced them
//! but still served by Synapse, sent by older servers, and tested by Complement
//! (TestCannotSendNonJoinViaSendJoinV1, TestCannotSendNonLeaveViaSendLeaveV1). They take the
//! same event as v2 and answer v2's body wrapped as `[200, body]`. ruma has no types for them,
//! so they are declared here with ruma's request macros and handled by the v2 handlers.

use accord_service::{Error, Services};
use ruma::api::federation::membership::{create_join_event::v2 as send_join, create_leave_event::v2 as send_leave};
use serde_json::value::RawValue as RawJsonValue;

use super::membership::{create_join_event_route, create_leave_event_route};
use crate::{ApiError, Result, Ruma};

/// `PUT /_matrix/federation/v1/send_join/{roomId}/{eventId}`
pub mod send_join_v1 {
    use ruma::{
        OwnedEventId, OwnedRoomId,
        api::{federation::authentication::ServerSignatures, request, response},
        metadata,
    };
    use serde_json::value::RawValue as RawJsonValue;

    metadata! {
        method: PUT,
        rate_limited: false,
        authentication: ServerSignatures,
        path: "/_matrix/federation/v1/send_join/{room_id}/{event_id}",
    }

    /// The join event.
    #[request]
    pub struct Request {
        /// The room (the PDU names it too).
        #[ruma_api(path)]
        pub room_id: OwnedRoomId,
        /// The join's event id.
        #[ruma_api(path)]
        pub event_id: OwnedEventId,
        /// The PDU.
        #[ruma_api(body)]
        pub pdu: Box<RawJsonValue>,
    }

    /// `[200, {state, auth_chain, event, ...}]`.
    #[response]
    pub struct Response {
        /// The whole body.
        #[ruma_api(body)]
        pub body: Box<RawJsonValue>,
    }

    impl Request {
        /// The request for `pdu`, the event `event_id` of `room_id`.
        pub fn new(room_id: OwnedRoomId, event_id: OwnedEventId, pdu: Box<RawJsonValue>) -> Self {
            Self { room_id, event_id, pdu }
        }
    }
}

/// `PUT /_matrix/federation/v1/send_leave/{roomId}/{eventId}`
pub mod send_leave_v1 {
    use ruma::{
        OwnedEventId, OwnedRoomId,
        api::{federation::authentication::ServerSignatures, request, response},
        metadata,
    };
    use serde_json::value::RawValue as RawJsonValue;

    metadata! {
        method: PUT,
        rate_limited: false,
        authentication: ServerSignatures,
        path: "/_matrix/federation/v1/send_leave/{room_id}/{event_id}",
    }

    /// The leave event.
    #[request]
    pub struct Request {
        /// The room (the PDU names it too).
        #[ruma_api(path)]
        pub room_id: OwnedRoomId,
        /// The leave's event id.
        #[ruma_api(path)]
        pub event_id: OwnedEventId,
        /// The PDU.
        #[ruma_api(body)]
        pub pdu: Box<RawJsonValue>,
    }

    /// `[200, {}]`.
    #[response]
    pub struct Response {
        /// The whole body.
        #[ruma_api(body)]
        pub body: Box<RawJsonValue>,
    }

    impl Request {
        /// The request for `pdu`, the event `event_id` of `room_id`.
        pub fn new(room_id: OwnedRoomId, event_id: OwnedEventId, pdu: Box<RawJsonValue>) -> Self {
            Self { room_id, event_id, pdu }
        }
    }
}

/// v2's answer wrapped the v1 way, `[200, answer]`.
fn wrapped(answer: &impl serde::Serialize) -> Result<Box<RawJsonValue>> {
    serde_json::value::to_raw_value(&(200, answer)).map_err(|err| ApiError::from(Error::Internal(err.to_string())))
}

/// # `PUT /_matrix/federation/v1/send_join/{roomId}/{eventId}`
pub async fn send_join_v1_route(
    services: Services,
    request: Ruma<send_join_v1::Request>,
) -> Result<send_join_v1::Response> {
    let Ruma {
        body,
        auth,
        query,
        raw_body,
        client_ip,
    } = request;
    let v2 = Ruma {
        body: send_join::Request::new(body.room_id, body.event_id, body.pdu),
        auth,
        query,
        raw_body,
        client_ip,
    };
    let answer = create_join_event_route(services, v2).await?;
    Ok(send_join_v1::Response {
        body: wrapped(&answer.room_state)?,
    })
}

/// # `PUT /_matrix/federation/v1/send_leave/{roomId}/{eventId}`
pub async fn send_leave_v1_route(
    services: Services,
    request: Ruma<send_leave_v1::Request>,
) -> Result<send_leave_v1::Response> {
    let Ruma {
        body,
        auth,
        query,
        raw_body,
        client_ip,
    } = request;
    let v2 = Ruma {
        body: send_leave::Request::new(body.room_id, body.event_id, body.pdu),
        auth,
        query,
        raw_body,
        client_ip,
    };
    create_leave_event_route(services, v2).await?;
    Ok(send_leave_v1::Response {
        body: wrapped(&serde_json::json!({}))?,
    })
}
