//! The one mapping from failures to HTTP: status by Matrix error kind, `{"errcode","error"}`
//! bodies (with the spec's extra fields), UIA 401 bodies, and sanitized 500s.

use accord_service::Error as ServiceError;
use axum::response::{IntoResponse, Response};
use bytes::BytesMut;
use http::StatusCode;
use ruma::api::{
    OutgoingResponseExt,
    client::uiaa::UiaaResponse,
    error::{Error as RumaError, ErrorBody, ErrorKind, StandardErrorBody},
};

/// Result alias for handlers.
pub type Result<T, E = ApiError> = std::result::Result<T, E>;

/// A failed request, ready to render.
#[derive(Debug)]
pub struct ApiError {
    inner: ServiceError,
    /// A status the spec fixes for this endpoint, overriding the table (e.g. 405 for
    /// server-managed account data).
    status: Option<StatusCode>,
}

impl ApiError {
    /// A Matrix error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ServiceError::new(kind, message).into()
    }

    /// The same error with a status the spec fixes for this endpoint.
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = Some(status);
        self
    }

    /// The Matrix error kind, if this is a request error.
    pub fn kind(&self) -> Option<&ErrorKind> {
        self.inner.kind()
    }
}

impl From<ServiceError> for ApiError {
    fn from(inner: ServiceError) -> Self {
        Self { inner, status: None }
    }
}

/// MSC4306's errcode for a refused automatic thread subscription (409).
const CONFLICTING_UNSUBSCRIPTION: &str = "IO.ELEMENT.MSC4306.M_CONFLICTING_UNSUBSCRIPTION";

/// The spec's status for each error code.
fn status_for(kind: &ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::Forbidden
        | ErrorKind::UserDeactivated
        | ErrorKind::GuestAccessForbidden
        | ErrorKind::ThreepidAuthFailed
        | ErrorKind::ThreepidDenied
        | ErrorKind::ServerNotTrusted
        | ErrorKind::ResourceLimitExceeded(_)
        | ErrorKind::CannotLeaveServerNoticeRoom
        | ErrorKind::WrongRoomKeysVersion(_)
        | ErrorKind::UserSuspended
        | ErrorKind::InviteBlocked => StatusCode::FORBIDDEN,
        ErrorKind::UnknownToken(_) | ErrorKind::MissingToken | ErrorKind::Unauthorized | ErrorKind::UserLocked => {
            StatusCode::UNAUTHORIZED
        }
        ErrorKind::NotFound | ErrorKind::Unrecognized => StatusCode::NOT_FOUND,
        ErrorKind::LimitExceeded(_) => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::RoomInUse | ErrorKind::UserInUse | ErrorKind::Exclusive => StatusCode::BAD_REQUEST,
        ErrorKind::ConnectionTimeout => StatusCode::GATEWAY_TIMEOUT,
        // The ping endpoint: the application service answered badly or not at all.
        ErrorKind::BadStatus(_) | ErrorKind::ConnectionFailed => StatusCode::BAD_GATEWAY,
        ErrorKind::NotYetUploaded => StatusCode::GATEWAY_TIMEOUT,
        ErrorKind::CannotOverwriteMedia => StatusCode::CONFLICT,
        // MSC4306: an automatic thread subscription older than the user's unsubscription.
        other if other.errcode().as_str() == CONFLICTING_UNSUBSCRIPTION => StatusCode::CONFLICT,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// Renders a Matrix error response directly (used by fallbacks and layers outside handlers).
pub fn error_response(status: StatusCode, kind: ErrorKind, message: impl Into<String>) -> Response {
    render_standard(status, kind, message.into())
}

fn render_standard(status: StatusCode, kind: ErrorKind, message: String) -> Response {
    if kind == ErrorKind::UserLocked {
        return render_locked(status, message);
    }
    let error = RumaError::new(status, ErrorBody::Standard(StandardErrorBody::new(kind, message)));
    match error.try_into_http_response::<BytesMut>() {
        Ok(response) => response
            .map(|body| axum::body::Body::from(body.freeze()))
            .into_response(),
        Err(_) => status.into_response(),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self.inner {
            ServiceError::Request { kind, message } => {
                let status = self.status.unwrap_or_else(|| status_for(&kind));
                tracing::debug!(%status, errcode = %kind.errcode(), %message, "request failed");
                render_standard(status, kind, message)
            }
            ServiceError::Uiaa(info) => match UiaaResponse::AuthResponse(*info).try_into_http_response::<BytesMut>() {
                Ok(response) => response
                    .map(|body| axum::body::Body::from(body.freeze()))
                    .into_response(),
                Err(err) => internal(&err.to_string()),
            },
            ServiceError::Conflict(message) => {
                render_standard(self.status.unwrap_or(StatusCode::CONFLICT), ErrorKind::Unknown, message)
            }
            ServiceError::Db(err) => internal(&err.to_string()),
            ServiceError::Internal(message) => internal(&message),
        }
    }
}

/// `M_USER_LOCKED` carries `soft_logout: true` (spec: the client keeps its session and waits
/// for the unlock), which ruma's error kind has no field for.
fn render_locked(status: StatusCode, message: String) -> Response {
    let body = serde_json::json!({
        "errcode": "M_USER_LOCKED",
        "error": message,
        "soft_logout": true,
    });
    (status, axum::Json(body)).into_response()
}

/// Logs the real cause once and tells the client only that it was our fault.
fn internal(cause: &str) -> Response {
    tracing::error!(%cause, "internal error");
    render_standard(
        StatusCode::INTERNAL_SERVER_ERROR,
        ErrorKind::Unknown,
        "Internal server error".to_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_spec() {
        assert_eq!(status_for(&ErrorKind::Forbidden), StatusCode::FORBIDDEN);
        assert_eq!(status_for(&ErrorKind::MissingToken), StatusCode::UNAUTHORIZED);
        assert_eq!(status_for(&ErrorKind::NotFound), StatusCode::NOT_FOUND);
        assert_eq!(status_for(&ErrorKind::TooLarge), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(status_for(&ErrorKind::UserInUse), StatusCode::BAD_REQUEST);
        assert_eq!(status_for(&ErrorKind::NotJson), StatusCode::BAD_REQUEST);
    }
}
