//! Membership events built from a resident server's template (`make_join`, `make_leave`,
//! `make_knock`): our user's profile and reason filled in, timestamped now, hashed and signed by
//! this server.

use ruma::{CanonicalJsonObject, CanonicalJsonValue, OwnedEventId, UserId, room_version_rules::RoomVersionRules};

use crate::{Result, Services};

impl Services {
    /// Completes and signs `event` for `user_id`; returns its event id. Joins and knocks carry
    /// the user's display name and avatar.
    pub(crate) fn sign_membership(
        &self,
        event: &mut CanonicalJsonObject,
        rules: &RoomVersionRules,
        user_id: &UserId,
        reason: Option<String>,
        extra: serde_json::Map<String, serde_json::Value>,
    ) -> Result<OwnedEventId> {
        if let Some(CanonicalJsonValue::Object(content)) = event.get_mut("content") {
            for (key, value) in extra {
                let value = CanonicalJsonValue::try_from(value)
                    .map_err(|err| crate::Error::bad_json(format!("member content key {key}: {err}")))?;
                content.entry(key).or_insert(value);
            }
            let with_profile = matches!(
                content.get("membership"),
                Some(CanonicalJsonValue::String(m)) if m == "join" || m == "knock"
            );
            if with_profile {
                let profile = self.profiles.get(user_id)?;
                for field in ["displayname", "avatar_url"] {
                    if let Some(value) = profile
                        .get(field)
                        .and_then(|v| CanonicalJsonValue::try_from(v.clone()).ok())
                    {
                        content.insert(field.to_owned(), value);
                    }
                }
            }
            if let Some(reason) = reason {
                content.insert("reason".to_owned(), CanonicalJsonValue::String(reason));
            }
        }
        event.insert(
            "origin_server_ts".to_owned(),
            CanonicalJsonValue::Integer(ruma::Int::try_from(accord_core::time::now_millis()).unwrap_or(ruma::Int::MAX)),
        );
        let rooms = self.rooms.rooms();
        rooms.sign_event(event, rules)?;
        Ok(accord_room::event_id_of(event, rules)?)
    }
}
