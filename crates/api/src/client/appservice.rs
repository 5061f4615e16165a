//! What the client-server API offers application services alone: pinging themselves through
//! the server (`POST /_matrix/client/v1/appservice/{appserviceId}/ping`) and timestamp
//! massaging (`?ts=` on sends).

use std::time::Duration;

use accord_service::{AuthedUser, Services};
use ruma::{MilliSecondsSinceUnixEpoch, api::client::appservice::request_ping};

use crate::{Result, Ruma};

/// # `POST /_matrix/client/v1/appservice/{appserviceId}/ping`
pub async fn request_ping_route(
    services: Services,
    request: Ruma<request_ping::v1::Request>,
) -> Result<request_ping::v1::Response> {
    let body = request.body;
    let millis = services
        .ping_appservice(&request.auth, &body.appservice_id, body.transaction_id)
        .await?;
    Ok(request_ping::v1::Response::new(Duration::from_millis(millis)))
}

/// The `origin_server_ts` a send asks for with `?ts=`: honoured only for an application
/// service (spec: "Timestamp massaging"); anyone else's is ignored, as Synapse does. A `ts`
/// that is not an integer never gets here: parsing the request refuses it (400).
pub(crate) fn massaged_timestamp(user: &AuthedUser, ts: Option<MilliSecondsSinceUnixEpoch>) -> Option<u64> {
    user.appservice.as_ref()?;
    ts.map(|ts| u64::from(ts.0))
}
