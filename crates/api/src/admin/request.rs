//! The extractor every admin handler takes: the caller checked as a server admin before
//! anything else is read, then the query and JSON body parsed with Synapse's errcodes
//! (`M_NOT_JSON` for a body that is not JSON, `M_BAD_JSON` for one of the wrong shape,
//! `M_INVALID_PARAM` for a bad query).

use accord_service::{AuthedUser, Services};
use axum::extract::{FromRequest, Request};
use bytes::Bytes;
use ruma::{OwnedRoomId, OwnedUserId, api::error::ErrorKind};
use serde::de::DeserializeOwned;

use super::admin;
use crate::{ApiError, Result, extract::read_body};

/// An admin's request: who, the query string and the body.
pub(crate) struct AdminRequest {
    /// The admin making it.
    pub(crate) admin: AuthedUser,
    query: String,
    body: Bytes,
}

impl FromRequest<Services> for AdminRequest {
    type Rejection = ApiError;

    async fn from_request(request: Request, services: &Services) -> Result<Self> {
        let (parts, body) = request.into_parts();
        let admin = admin(services, &parts)?;
        let body = read_body(body, services.config.client_api.max_request_bytes).await?;
        Ok(Self {
            admin,
            query: parts.uri.query().unwrap_or_default().to_owned(),
            body,
        })
    }
}

impl AdminRequest {
    /// The query string, parsed.
    pub(crate) fn query<T: DeserializeOwned>(&self) -> Result<T> {
        serde_urlencoded::from_str(&self.query)
            .map_err(|err| ApiError::new(ErrorKind::InvalidParam, format!("Invalid query: {err}")))
    }

    /// The JSON body, parsed; an empty body is `T::default()` (Synapse accepts none where
    /// every field is optional).
    pub(crate) fn json<T: DeserializeOwned + Default>(&self) -> Result<T> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(T::default());
        }
        self.required_json()
    }

    /// The JSON body, parsed; it must be there.
    pub(crate) fn required_json<T: DeserializeOwned>(&self) -> Result<T> {
        let value: serde_json::Value = serde_json::from_slice(&self.body)
            .map_err(|_| ApiError::new(ErrorKind::NotJson, "The body is not JSON"))?;
        if !value.is_object() {
            return Err(ApiError::new(ErrorKind::BadJson, "The body must be a JSON object"));
        }
        serde_json::from_value(value).map_err(|err| ApiError::new(ErrorKind::BadJson, format!("Invalid body: {err}")))
    }

    /// The admin's user id.
    pub(crate) fn admin_id(&self) -> &ruma::UserId {
        &self.admin.user_id
    }
}

/// A user id from the path; 400 `M_INVALID_PARAM` when it is not one.
pub(crate) fn path_user(raw: &str) -> Result<OwnedUserId> {
    OwnedUserId::try_from(raw)
        .map_err(|err| ApiError::new(ErrorKind::InvalidParam, format!("Invalid user id {raw:?}: {err}")))
}

/// A room id from the path; 400 `M_INVALID_PARAM` when it is not one.
pub(crate) fn path_room(raw: &str) -> Result<OwnedRoomId> {
    OwnedRoomId::try_from(raw)
        .map_err(|err| ApiError::new(ErrorKind::InvalidParam, format!("{raw} is not a legal room ID: {err}")))
}
