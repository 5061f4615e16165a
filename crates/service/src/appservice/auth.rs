//! Requests made with an application service's `as_token` (spec: "Identity assertion"): the
//! service acts as its sender, or as the user `?user_id=` names when that user is in its user
//! namespace and registered; `?device_id=` (MSC4326, and MSC3202's unstable name) picks one of
//! that user's devices.

use ruma::{OwnedDeviceId, OwnedUserId, UserId, api::error::ErrorKind};

use crate::{AuthedUser, Error, Result, Services};

/// How an application service acts in one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppserviceCaller {
    /// The service's id.
    pub id: String,
    /// Whether the request named a device (`device_id`): only then is there a real device,
    /// and `whoami` tells it.
    pub device_given: bool,
    /// Whether rate limits apply: not with `rate_limited: false`, and never to the service's
    /// own sender (as Synapse does).
    pub rate_limited: bool,
}

/// The device a service's user acts from when the request names none: not a real device, so
/// nothing is stored for it, but a stable key for transaction ids (a retried send with the
/// same transaction id is still answered with the same event).
pub fn appservice_pseudo_device(appservice_id: &str) -> OwnedDeviceId {
    OwnedDeviceId::from(format!("_appservice_{appservice_id}"))
}

/// The query parameters identity assertion reads.
#[derive(Debug, Default)]
struct Assertion {
    user_id: Option<String>,
    device_id: Option<String>,
}

fn assertion(query: Option<&str>) -> Assertion {
    let mut found = Assertion::default();
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match &*key {
            "user_id" => found.user_id = Some(value.into_owned()),
            "device_id" => found.device_id = Some(value.into_owned()),
            "org.matrix.msc3202.device_id" if found.device_id.is_none() => found.device_id = Some(value.into_owned()),
            _ => {}
        }
    }
    found
}

impl Services {
    /// `None` when `token` is no service's `as_token`; otherwise who the service acts as.
    ///
    /// Synapse's answers: a user outside the namespace, or one the service never registered,
    /// gets 403 `M_FORBIDDEN`; an unknown device 400 `M_UNKNOWN_DEVICE`.
    pub fn authenticate_appservice(&self, token: &str, query: Option<&str>) -> Option<Result<AuthedUser>> {
        let registry = self.appservices.registry.snapshot();
        let registration = registry.by_token(token)?.clone();
        Some(self.act_as(&registration, query))
    }

    fn act_as(&self, registration: &accord_core::appservice::Registration, query: Option<&str>) -> Result<AuthedUser> {
        let asserted = assertion(query);
        let user_id: OwnedUserId = match asserted.user_id.as_deref() {
            None => registration.sender.clone(),
            Some(text) => UserId::parse(text)
                .map_err(|err| Error::new(ErrorKind::InvalidParam, format!("user_id is not a user ID: {err}")))?,
        };
        if user_id != registration.sender {
            if !registration.may_act_as(&user_id) {
                return Err(Error::forbidden(format!(
                    "Application service cannot masquerade as {user_id}: it is outside its user namespace"
                )));
            }
            if user_id.server_name() != self.config.server_name || self.db().get_account(&user_id)?.is_none() {
                return Err(Error::forbidden(format!(
                    "Application service has not registered {user_id}; register it first (m.login.application_service)"
                )));
            }
        }
        let device_given = asserted.device_id.is_some();
        let device_id = match asserted.device_id {
            Some(device) => {
                let device = OwnedDeviceId::from(device);
                if self.db().get_device(&user_id, &device)?.is_none() {
                    return Err(Error::new(
                        ErrorKind::UnknownDevice,
                        format!("{user_id} has no device {device}"),
                    ));
                }
                device
            }
            None => appservice_pseudo_device(&registration.id),
        };
        let rate_limited = registration.rate_limited && user_id != registration.sender;
        Ok(AuthedUser {
            user_id,
            device_id,
            appservice: Some(AppserviceCaller {
                id: registration.id.clone(),
                device_given,
                rate_limited,
            }),
        })
    }
}
