//! `GET /pushers` and `POST /pushers/set`: validation as the spec and Synapse have it, the
//! pusher tied to the device that set it, a pushkey owned by one user at a time.

use accord_core::time::now_millis;
use accord_db::PusherRecord;
use ruma::api::error::ErrorKind;
use serde_json::Value;

use crate::{AuthedUser, Error, Result, Services};

/// The only path a push gateway serves notifications on (spec: push gateway API).
const NOTIFY_PATH: &str = "/_matrix/push/v1/notify";

/// A pusher to create or update.
#[derive(Debug, Clone)]
pub struct PusherChange {
    /// `http` or `email`.
    pub kind: String,
    /// The app.
    pub app_id: String,
    /// The device's key at the gateway.
    pub pushkey: String,
    /// For people.
    pub app_display_name: String,
    /// For people.
    pub device_display_name: String,
    /// Push rule profile.
    pub profile_tag: Option<String>,
    /// Language.
    pub lang: String,
    /// `url`, `format`, and what the gateway wants back.
    pub data: Value,
    /// Keep other users' pushers with this pushkey (spec `append`).
    pub append: bool,
}

/// A pusher to delete (`kind: null`).
#[derive(Debug, Clone)]
pub struct PusherDeletion {
    /// The app.
    pub app_id: String,
    /// The device's key at the gateway.
    pub pushkey: String,
}

impl Services {
    /// The caller's pushers.
    pub fn pushers(&self, user: &AuthedUser) -> Result<Vec<PusherRecord>> {
        Ok(self.db().pushers_of(&user.user_id)?)
    }

    /// `POST /pushers/set` with a kind: checks and stores the pusher; delivery starts with
    /// the next event (no backlog).
    pub fn set_pusher(&self, user: &AuthedUser, change: PusherChange) -> Result<()> {
        match change.kind.as_str() {
            "http" => self.check_gateway_url(&change.data)?,
            "email" => {
                return Err(Error::new(
                    ErrorKind::ThreepidNotFound,
                    "email pushers need an email address bound to the account, which this server doesn't keep",
                ));
            }
            other => return Err(Error::invalid_param(format!("Unknown pusher kind {other:?}"))),
        }
        if change.app_id.is_empty() || change.pushkey.is_empty() {
            return Err(Error::invalid_param("app_id and pushkey must not be empty"));
        }
        let db = self.db();
        if !change.append {
            for other in db.pushers_with_key(&change.app_id, &change.pushkey)? {
                if other.user_id != user.user_id {
                    db.delete_pusher(&other.user_id, &other.app_id, &other.pushkey)?;
                }
            }
        }
        // Updating a pusher keeps the device that first set it (Synapse does the same).
        let device_id = db
            .pushers_of(&user.user_id)?
            .into_iter()
            .find(|p| p.app_id == change.app_id && p.pushkey == change.pushkey)
            .map_or_else(|| Some(user.device_id.clone()), |existing| existing.device_id);
        let pusher = PusherRecord {
            user_id: user.user_id.clone(),
            kind: change.kind,
            app_id: change.app_id,
            pushkey: change.pushkey,
            pushkey_ts: now_millis(),
            app_display_name: change.app_display_name,
            device_display_name: change.device_display_name,
            profile_tag: change.profile_tag,
            lang: change.lang,
            data: change.data,
            device_id,
        };
        db.put_pusher(&pusher, db.visible_count())?;
        tracing::info!(user = %user.user_id, app_id = %pusher.app_id, "pusher set");
        Ok(())
    }

    /// `POST /pushers/set` with `kind: null`: deletes the caller's pusher (200 whether or not
    /// it existed, as Synapse answers).
    pub fn delete_pusher(&self, user: &AuthedUser, deletion: &PusherDeletion) -> Result<()> {
        self.db()
            .delete_pusher(&user.user_id, &deletion.app_id, &deletion.pushkey)?;
        Ok(())
    }

    /// `data.url` of an HTTP pusher: an http(s) URL whose path is exactly the notify path
    /// (400 `M_MISSING_PARAM` otherwise, as Synapse answers), at an address the push
    /// configuration lets this server reach (400 `M_INVALID_PARAM`).
    fn check_gateway_url(&self, data: &Value) -> Result<()> {
        let missing = |why: &str| Error::new(ErrorKind::MissingParam, format!("data.url of an http pusher {why}"));
        let url = data
            .get("url")
            .and_then(Value::as_str)
            .ok_or_else(|| missing("is required"))?;
        let parsed = url::Url::parse(url).map_err(|_| missing("must be a URL"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(missing("must be an http or https URL"));
        }
        if parsed.path() != NOTIFY_PATH {
            return Err(missing(&format!("must have the path {NOTIFY_PATH}")));
        }
        if !self.push.fetcher.allows_literal(&parsed) {
            return Err(Error::invalid_param(format!(
                "{url} is an address this server may not reach (push.ip_range_denylist)"
            )));
        }
        Ok(())
    }
}
