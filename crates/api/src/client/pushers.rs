//! Pushers and notifications (spec: "Push notifications"): `GET /pushers`,
//! `POST /pushers/set`, `GET /notifications`; the work is `Services`'s (`push` module).

use accord_service::{
    Error, Services,
    push::{PusherChange, PusherDeletion},
};
use ruma::{
    MilliSecondsSinceUnixEpoch, UInt,
    api::client::push::{
        Pusher, PusherIds, PusherInit, PusherKind,
        get_notifications::v3 as get_notifications,
        get_pushers::v3 as get_pushers,
        set_pusher::v3::{self as set_pusher, PusherAction},
    },
};
use serde_json::Value;

use crate::{ApiError, Result, Ruma, raw::raw};

/// # `GET /_matrix/client/v3/pushers`
pub async fn get_pushers_route(
    services: Services,
    request: Ruma<get_pushers::Request>,
) -> Result<get_pushers::Response> {
    let mut pushers = Vec::new();
    for record in services.pushers(&request.auth)? {
        let kind_json = serde_json::json!({ "kind": record.kind, "data": record.data });
        let kind: PusherKind = serde_json::from_value(kind_json)
            .map_err(|err| ApiError::from(Error::Internal(format!("a stored pusher is unreadable: {err}"))))?;
        let pusher: Pusher = PusherInit {
            ids: PusherIds::new(record.pushkey, record.app_id),
            kind,
            app_display_name: record.app_display_name,
            device_display_name: record.device_display_name,
            profile_tag: record.profile_tag,
            lang: record.lang,
        }
        .into();
        pushers.push(pusher);
    }
    Ok(get_pushers::Response::new(pushers))
}

/// # `POST /_matrix/client/v3/pushers/set`
pub async fn set_pusher_route(services: Services, request: Ruma<set_pusher::Request>) -> Result<set_pusher::Response> {
    match request.body.action {
        PusherAction::Post(post) => {
            let pusher = post.pusher;
            let kind = serde_json::to_value(&pusher.kind)
                .map_err(|err| ApiError::from(Error::bad_json(format!("Invalid pusher: {err}"))))?;
            let change = PusherChange {
                kind: kind["kind"].as_str().unwrap_or_default().to_owned(),
                data: kind.get("data").cloned().unwrap_or(Value::Object(Default::default())),
                app_id: pusher.ids.app_id,
                pushkey: pusher.ids.pushkey,
                app_display_name: pusher.app_display_name,
                device_display_name: pusher.device_display_name,
                profile_tag: pusher.profile_tag,
                lang: pusher.lang,
                append: post.append,
            };
            services.set_pusher(&request.auth, change)?;
            services.push.wake();
        }
        PusherAction::Delete(ids) => {
            let deletion = PusherDeletion {
                app_id: ids.app_id,
                pushkey: ids.pushkey,
            };
            services.delete_pusher(&request.auth, &deletion)?;
        }
        _ => return Err(ApiError::from(Error::invalid_param("Unknown pusher action"))),
    }
    Ok(set_pusher::Response::new())
}

/// # `GET /_matrix/client/v3/notifications`
pub async fn get_notifications_route(
    services: Services,
    request: Ruma<get_notifications::Request>,
) -> Result<get_notifications::Response> {
    let body = &request.body;
    let limit = body.limit.map(crate::count::count);
    let page = services
        .notifications(&request.auth, body.from.as_deref(), limit, body.only.as_deref())
        .await?;
    let mut notifications = Vec::with_capacity(page.notifications.len());
    for (event, actions, read, room_id, ts) in page.notifications {
        let actions = serde_json::from_value(actions).unwrap_or_default();
        notifications.push(get_notifications::Notification::new(
            actions,
            raw(&event)?,
            read,
            room_id,
            MilliSecondsSinceUnixEpoch(UInt::new_saturating(ts)),
        ));
    }
    let mut response = get_notifications::Response::new(notifications);
    response.next_token = page.next_token;
    Ok(response)
}
