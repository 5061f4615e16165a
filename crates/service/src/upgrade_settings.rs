//! A user's settings for a room follow it when it is upgraded (spec "Room Upgrades": "When a
//! user joins the new room, the server should automatically transfer/replicate some of the
//! user's personalized settings"): room push rules, tags, and the `m.direct` listing.
//!
//! Copied for every local member of the old room at the upgrade, and again whenever a local
//! user joins a room whose create event names a predecessor they were in: that covers users
//! of this server when the upgrade happened elsewhere, and rooms upgraded by hand (a room
//! created with a `predecessor`, then a tombstone), which Complement's TestPushRuleRoomUpgrade
//! checks too.

use ruma::events::{StateEventType, room::member::MembershipState};
use ruma::{OwnedRoomId, RoomId, UserId};
use serde_json::{Value, json};

use crate::{AuthedUser, Result, Services, rooms::upgrade::UpgradeRequest};

impl Services {
    /// `POST /rooms/{roomId}/upgrade`: the upgrade, then each local member's settings.
    pub async fn upgrade_room(
        &self,
        user: &AuthedUser,
        room_id: &RoomId,
        request: &UpgradeRequest,
    ) -> Result<OwnedRoomId> {
        let new_room = self.rooms.upgrade_room(user, room_id, request).await?;
        for (member, membership) in self.db().members_of_room(room_id)? {
            if membership == MembershipState::Join && member.server_name() == self.config.server_name {
                self.carry_settings_over(&member, room_id, &new_room);
            }
        }
        Ok(new_room)
    }

    /// After `user_id` joined `room_id`: if the room replaced one the user was in, their
    /// settings for that room follow.
    pub(crate) fn settings_follow_join(&self, user_id: &UserId, room_id: &RoomId) {
        let predecessor = self.predecessor_of(room_id).unwrap_or_else(|err| {
            tracing::debug!(room = %room_id, %err, "predecessor not read");
            None
        });
        let Some(old) = predecessor else { return };
        let was_member = self.db().get_membership(user_id, &old).ok().flatten().is_some();
        if was_member {
            self.carry_settings_over(user_id, &old, room_id);
        }
    }

    /// `predecessor.room_id` of the room's create event.
    fn predecessor_of(&self, room_id: &RoomId) -> Result<Option<OwnedRoomId>> {
        let rooms = self.rooms.rooms();
        let state = rooms.current_state(room_id)?;
        let create = rooms.state_event(&state, &StateEventType::RoomCreate, "")?;
        Ok(create.and_then(|pdu| {
            let content = pdu.content_value();
            content["predecessor"]["room_id"]
                .as_str()
                .and_then(|id| OwnedRoomId::try_from(id).ok())
        }))
    }

    /// Copies push rules, tags and `m.direct` from `old` to `new` for one user; a failure is
    /// logged, never fails the join or the upgrade.
    fn carry_settings_over(&self, user_id: &UserId, old: &RoomId, new: &RoomId) {
        let copied = self
            .push_rules
            .copy_room_rules(user_id, old, new)
            .and_then(|_| self.copy_tags(user_id, old, new))
            .and_then(|()| self.add_to_direct(user_id, old, new));
        if let Err(err) = copied {
            tracing::warn!(user = %user_id, %old, %new, %err, "settings not carried over to the upgraded room");
        }
    }

    fn copy_tags(&self, user_id: &UserId, old: &RoomId, new: &RoomId) -> Result<()> {
        let db = self.db();
        let tags = db.get_account_data(user_id, Some(old), "m.tag")?;
        let has_tags = tags
            .as_ref()
            .is_some_and(|t| t["tags"].as_object().is_some_and(|t| !t.is_empty()));
        if !has_tags || db.get_account_data(user_id, Some(new), "m.tag")?.is_some() {
            return Ok(());
        }
        let tags = tags.unwrap_or_default();
        db.write_at_next_count(|batch, count| db.put_account_data(batch, user_id, Some(new), "m.tag", &tags, count))?;
        Ok(())
    }

    /// Lists `new` beside `old` in each `m.direct` entry that names `old`.
    fn add_to_direct(&self, user_id: &UserId, old: &RoomId, new: &RoomId) -> Result<()> {
        let db = self.db();
        let Some(Value::Object(mut direct)) = db.get_account_data(user_id, None, "m.direct")? else {
            return Ok(());
        };
        let mut changed = false;
        for rooms in direct.values_mut() {
            if let Some(list) = rooms.as_array_mut()
                && list.iter().any(|r| r == old.as_str())
                && !list.iter().any(|r| r == new.as_str())
            {
                list.push(json!(new));
                changed = true;
            }
        }
        if changed {
            let content = Value::Object(direct);
            db.write_at_next_count(|batch, count| {
                db.put_account_data(batch, user_id, None, "m.direct", &content, count)
            })?;
        }
        Ok(())
    }
}
