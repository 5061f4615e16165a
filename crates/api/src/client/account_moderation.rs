//! Account moderation of the client API (spec v1.18, MSC4323): server admins lock and suspend
//! local accounts with their ordinary access token. `Accounts::measure` checks the caller is
//! an admin before it looks the account up, as the spec asks (no user enumeration).

use accord_service::{Services, account_state::Measure};
use ruma::api::client::admin::{is_user_locked, is_user_suspended, lock_user, suspend_user};

use crate::{Result, Ruma};

/// # `GET /_matrix/client/v1/admin/lock/{userId}`
pub async fn is_user_locked_route(
    services: Services,
    request: Ruma<is_user_locked::v1::Request>,
) -> Result<is_user_locked::v1::Response> {
    let locked = services
        .accounts
        .measure(&request.auth, &request.body.user_id, Measure::Lock)?;
    Ok(is_user_locked::v1::Response::new(locked))
}

/// # `PUT /_matrix/client/v1/admin/lock/{userId}`
pub async fn lock_user_route(
    services: Services,
    request: Ruma<lock_user::v1::Request>,
) -> Result<lock_user::v1::Response> {
    let body = request.body;
    let locked = services
        .accounts
        .set_measure(&request.auth, &body.user_id, Measure::Lock, body.locked)?;
    Ok(lock_user::v1::Response::new(locked))
}

/// # `GET /_matrix/client/v1/admin/suspend/{userId}`
pub async fn is_user_suspended_route(
    services: Services,
    request: Ruma<is_user_suspended::v1::Request>,
) -> Result<is_user_suspended::v1::Response> {
    let suspended = services
        .accounts
        .measure(&request.auth, &request.body.user_id, Measure::Suspend)?;
    Ok(is_user_suspended::v1::Response::new(suspended))
}

/// # `PUT /_matrix/client/v1/admin/suspend/{userId}`
pub async fn suspend_user_route(
    services: Services,
    request: Ruma<suspend_user::v1::Request>,
) -> Result<suspend_user::v1::Response> {
    let body = request.body;
    let suspended = services
        .accounts
        .set_measure(&request.auth, &body.user_id, Measure::Suspend, body.suspended)?;
    Ok(suspend_user::v1::Response::new(suspended))
}
