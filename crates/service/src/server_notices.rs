//! Server notices (spec: "Server Notices"; the Synapse admin API `send_server_notice`): an
//! admin's message to a user arrives in the user's own notices room, sent by the notices user
//! (a user with no account), tagged `m.server_notice`. The room is made on the first notice
//! and kept: a user who left it is invited back by the next one. A user can't reject the
//! invite (403 `M_CANNOT_LEAVE_SERVER_NOTICE_ROOM`), only leave after joining.

use accord_db::WriteBatch;
use ruma::{
    OwnedDeviceId, OwnedEventId, OwnedRoomId, OwnedUserId, RoomId, UserId, api::error::ErrorKind,
    events::room::member::MembershipState,
};
use serde_json::{Map, Value, json};

use crate::{AuthedUser, Error, Result, Services, rooms::CreateRoom};

/// The tag that marks a notices room (spec).
const NOTICE_TAG: &str = "m.server_notice";

/// One notice to send.
#[derive(Debug, Clone)]
pub struct ServerNotice {
    /// Who it is for (a local user).
    pub user_id: OwnedUserId,
    /// Its event type (`m.room.message` by default).
    pub kind: String,
    /// A state key: the notice is then a state event.
    pub state_key: Option<String>,
    /// Its content.
    pub content: Value,
}

impl Services {
    /// Sends a notice; `txn` makes a retried request send it once.
    pub async fn send_server_notice(
        &self,
        admin: &AuthedUser,
        notice: ServerNotice,
        txn: Option<&str>,
    ) -> Result<OwnedEventId> {
        let config = &self.config.server_notices;
        if !config.enabled {
            return Err(Error::bad_json("Server notices are disabled (server_notices.enabled)"));
        }
        let target = &notice.user_id;
        if target.server_name() != self.config.server_name {
            return Err(Error::bad_json("Server notices can only be sent to local users"));
        }
        if self.db().get_account(target)?.is_none() {
            return Err(Error::not_found(format!("No user {target}")));
        }
        if !notice.content.is_object() {
            return Err(Error::bad_json("content must be a JSON object"));
        }
        let system = self.notices_user()?;
        let room_id = self.notice_room_for(&system, target).await?;
        let txn_id = match txn {
            Some(txn) => format!("{}:{}:{txn}", admin.user_id, admin.device_id),
            None => format!("{}:{}", admin.user_id, rand_txn()),
        };
        let event_id = match &notice.state_key {
            Some(key) => {
                self.rooms
                    .send_state(&system, &room_id, &notice.kind, key, notice.content)
                    .await?
            }
            None => {
                self.rooms
                    .send_message(&system, &room_id, &notice.kind, &txn_id, notice.content)
                    .await?
            }
        };
        tracing::info!(to = %target, by = %admin.user_id, room = %room_id, "server notice sent");
        Ok(event_id)
    }

    /// The notices user, its profile set on first use.
    fn notices_user(&self) -> Result<AuthedUser> {
        let config = &self.config.server_notices;
        let user_id = OwnedUserId::try_from(format!("@{}:{}", config.system_mxid_localpart, self.config.server_name))
            .map_err(|err| Error::Internal(format!("server_notices.system_mxid_localpart: {err}")))?;
        let db = self.db();
        let profile = db.profile(&user_id)?;
        if profile.get("displayname").and_then(Value::as_str) != Some(config.system_mxid_display_name.as_str()) {
            let mut profile = profile;
            profile.insert("displayname".to_owned(), json!(config.system_mxid_display_name));
            let mut batch = WriteBatch::new();
            db.put_profile(&mut batch, &user_id, &profile);
            db.write(batch)?;
        }
        Ok(AuthedUser {
            user_id,
            device_id: OwnedDeviceId::from("SERVER_NOTICES"),
            appservice: None,
        })
    }

    /// The user's notices room, made on the first notice; the user invited (back) unless
    /// invited or joined already.
    async fn notice_room_for(&self, system: &AuthedUser, target: &UserId) -> Result<OwnedRoomId> {
        let db = self.db();
        let existing = db
            .notice_room(target)?
            .filter(|room| self.rooms.rooms().exists(room).unwrap_or(false));
        let room_id = match existing {
            Some(room_id) => room_id,
            None => {
                let request = CreateRoom {
                    preset: Some("private_chat".to_owned()),
                    name: Some(self.config.server_notices.room_name.clone()),
                    power_level_content_override: Some(Map::from_iter([("users_default".to_owned(), json!(-10))])),
                    ..CreateRoom::default()
                };
                let room_id = self.rooms.create_room(system, request).await?;
                db.put_notice_room(target, &room_id)?;
                room_id
            }
        };
        let membership = db.get_membership(target, &room_id)?.map(|m| m.membership);
        if !matches!(membership, Some(MembershipState::Invite | MembershipState::Join)) {
            self.rooms.invite(system, &room_id, target, None, false).await?;
        }
        let tags = db
            .get_account_data(target, Some(&room_id), "m.tag")?
            .unwrap_or_else(|| json!({}));
        if tags["tags"].get(NOTICE_TAG).is_none() {
            let mut tags = tags;
            tags["tags"][NOTICE_TAG] = json!({});
            db.write_at_next_count(|batch, count| {
                db.put_account_data(batch, target, Some(&room_id), "m.tag", &tags, count)
            })?;
        }
        Ok(room_id)
    }
}

/// Refuses rejecting the invite to one's notices room (Synapse's rule; leaving after
/// joining is allowed).
pub(crate) fn check_leave(db: &accord_db::Db, user_id: &UserId, room_id: &RoomId) -> Result<()> {
    let invited = db
        .get_membership(user_id, room_id)?
        .is_some_and(|m| m.membership == MembershipState::Invite);
    if invited && db.notice_room(user_id)?.as_deref() == Some(room_id) {
        return Err(Error::new(
            ErrorKind::CannotLeaveServerNoticeRoom,
            "The invite to your server notices room can't be rejected; join it to read the notice",
        ));
    }
    Ok(())
}

fn rand_txn() -> String {
    use rand::Rng;
    rand::thread_rng()
        .sample_iter(&rand::distributions::Alphanumeric)
        .take(16)
        .map(char::from)
        .collect()
}
