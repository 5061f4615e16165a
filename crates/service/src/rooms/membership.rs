//! Membership changes by local users: join, invite, leave, kick, ban, unban, knock, forget.
//! The room version's authorization rules decide what is allowed; this layer resolves aliases,
//! fills member content (display name, avatar) and keeps the forgotten flag.

use accord_room::Forget;
use accord_room::PduTemplate;
use ruma::events::room::member::MembershipState;
use ruma::{OwnedRoomId, RoomAliasId, RoomId, RoomOrAliasId, UserId, events::StateEventType};
use serde_json::{Map, Value};

use super::RoomService;
use crate::{AuthedUser, Error, Result};

impl RoomService {
    /// Resolves a room id or a local alias to a known room id.
    pub fn resolve_room(&self, room: &RoomOrAliasId) -> Result<OwnedRoomId> {
        let room_id = match <&RoomId>::try_from(room) {
            Ok(room_id) => room_id.to_owned(),
            Err(alias) => self.resolve_alias(alias)?,
        };
        if !self.rooms.exists(&room_id)? {
            return Err(Error::not_found(format!(
                "Room {room_id} is not known to this server (joining rooms on other servers needs federation)"
            )));
        }
        Ok(room_id)
    }

    /// Where a local alias points.
    pub fn resolve_alias(&self, alias: &RoomAliasId) -> Result<OwnedRoomId> {
        self.rooms
            .db()
            .get_alias(alias)?
            .map(|record| record.room_id)
            .ok_or_else(|| Error::not_found(format!("Room alias {alias} not found")))
    }

    /// Member event content for `user_id` with `membership`, carrying their profile. Built as
    /// JSON, not `RoomMemberEventContent`: the spec lets clients add their own keys to a
    /// member event, and ruma's type would drop them.
    fn member_content(
        &self,
        user_id: &UserId,
        membership: &MembershipState,
        reason: Option<String>,
        extra: Map<String, Value>,
    ) -> Result<Value> {
        let mut content = extra;
        content.insert("membership".to_owned(), Value::String(membership.to_string()));
        if matches!(
            membership,
            MembershipState::Join | MembershipState::Invite | MembershipState::Knock
        ) && user_id.server_name() == self.config.server_name
        {
            let profile = self.rooms.db().profile(user_id)?;
            for field in ["displayname", "avatar_url"] {
                if let Some(value) = profile.get(field) {
                    content.insert(field.to_owned(), value.clone());
                }
            }
        }
        if let Some(reason) = reason {
            content.insert("reason".to_owned(), Value::String(reason));
        }
        Ok(Value::Object(content))
    }

    pub(super) async fn set_membership(
        &self,
        sender: &UserId,
        room_id: &RoomId,
        target: &UserId,
        membership: MembershipState,
        reason: Option<String>,
        extra: Map<String, Value>,
    ) -> Result<()> {
        let content = self.member_content(target, &membership, reason, extra)?;
        let guard = self.rooms.lock(room_id).await;
        self.rooms.room_version(room_id)?;
        let template = PduTemplate::state(StateEventType::RoomMember, target.as_str(), content);
        self.rooms.send_and_release(guard, sender, template, None).await?;
        Ok(())
    }

    /// After a profile change: a new join event in every room the user is joined to, with
    /// the new display name and avatar (spec: "Events on Change of Profile Information").
    /// Other keys of their member content stay. A room where the event can't be sent is
    /// logged and skipped: the profile itself has changed.
    pub async fn announce_profile(&self, user_id: &UserId) -> Result<()> {
        let rooms = self.rooms.db().rooms_of_user(user_id)?;
        for (room_id, record) in rooms {
            if record.membership != MembershipState::Join {
                continue;
            }
            let current = self.rooms.current_state(&room_id)?;
            let mut extra = self
                .rooms
                .state_event(&current, &StateEventType::RoomMember, user_id.as_str())?
                .and_then(|pdu| pdu.content_value().as_object().cloned())
                .unwrap_or_default();
            let before = Value::Object(extra.clone());
            for key in [
                "membership",
                "displayname",
                "avatar_url",
                "reason",
                "join_authorised_via_users_server",
            ] {
                extra.remove(key);
            }
            let content = self.member_content(user_id, &MembershipState::Join, None, extra.clone())?;
            if content == before {
                continue;
            }
            if let Err(err) = self
                .set_membership(user_id, &room_id, user_id, MembershipState::Join, None, extra)
                .await
            {
                tracing::warn!(%room_id, %user_id, error = %err, "profile change not announced in a room");
            }
        }
        Ok(())
    }

    /// Joins a local room (by id or alias); joining again is a no-op that still succeeds.
    /// `extra` holds keys the client added to the member content (the spec allows them).
    pub async fn join(
        &self,
        user: &AuthedUser,
        room: &RoomOrAliasId,
        reason: Option<String>,
        mut extra: Map<String, Value>,
    ) -> Result<OwnedRoomId> {
        let room_id = self.resolve_room(room)?;
        let current = self.rooms.current_state(&room_id)?;
        if self.rooms.membership_in(&current, &user.user_id)? == Some(MembershipState::Join) {
            return Ok(room_id);
        }
        if let Some(authoriser) = self.restricted_join_authoriser(&current, &user.user_id)? {
            extra.insert(
                "join_authorised_via_users_server".to_owned(),
                Value::String(authoriser.to_string()),
            );
        }
        self.set_membership(
            &user.user_id,
            &room_id,
            &user.user_id,
            MembershipState::Join,
            reason,
            extra,
        )
        .await?;
        Ok(room_id)
    }

    /// For rooms with a `restricted` (or `knock_restricted`) join rule that the user may join
    /// through membership of an allowed room: a local member with power to invite, who vouches
    /// for the join (spec: "Restricted rooms"). `None` when the room is not restricted, or the
    /// user is invited anyway (the ordinary join rules apply then).
    pub(crate) fn restricted_join_authoriser(
        &self,
        state: &accord_room::RoomState,
        user_id: &UserId,
    ) -> Result<Option<ruma::OwnedUserId>> {
        let Some(rules) = self.rooms.state_event(state, &StateEventType::RoomJoinRules, "")? else {
            return Ok(None);
        };
        let content = rules.content_value();
        if !matches!(content["join_rule"].as_str(), Some("restricted" | "knock_restricted")) {
            return Ok(None);
        }
        if self.rooms.membership_in(state, user_id)? == Some(MembershipState::Invite) {
            return Ok(None);
        }
        let allowed_rooms: Vec<&RoomId> = content["allow"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|condition| condition["type"] == "m.room_membership")
            .filter_map(|condition| condition["room_id"].as_str())
            .filter_map(|room| <&RoomId>::try_from(room).ok())
            .collect();
        if allowed_rooms.is_empty() {
            // Nothing to be a member of (no `allow`, or none this server understands): only
            // an invite lets anyone in. Synapse answers 403 too (TestKnockingInMSC3787Room).
            return Err(Error::forbidden(
                "The room's join rules name no room that grants access; ask for an invite",
            ));
        }
        // Memberships are current only in rooms a local user is joined to: a room this server
        // left still holds who was in it when it left (TestRestrictedRoomsRemoteJoinFailOver).
        // A local user's own membership records are always current.
        let is_local = user_id.server_name() == self.config.server_name;
        let resident = |room: &&RoomId| self.rooms.is_resident(room).unwrap_or(false);
        if !is_local && !allowed_rooms.iter().any(resident) {
            return Err(Error::new(
                ruma::api::error::ErrorKind::UnableToAuthorizeJoin,
                "This server is in none of the rooms that grant access to this one; try another server",
            ));
        }
        let allowed = allowed_rooms
            .iter()
            .filter(|room| is_local || resident(room))
            .any(|room| {
                self.rooms
                    .db()
                    .get_membership(user_id, room)
                    .ok()
                    .flatten()
                    .is_some_and(|record| record.membership == MembershipState::Join)
            });
        if !allowed {
            return Err(Error::forbidden(
                "You are not a member of any room that grants access to this one",
            ));
        }
        let room_id = &rules.room_id;
        for (member, membership) in self.rooms.db().members_of_room(room_id)? {
            if membership == MembershipState::Join
                && member.server_name() == self.config.server_name
                && self.has_power(
                    state,
                    &member,
                    ruma::events::room::power_levels::PowerLevelAction::Invite,
                )?
            {
                return Ok(Some(member));
            }
        }
        Err(Error::new(
            ruma::api::error::ErrorKind::UnableToGrantJoin,
            "No member of this server can authorise the join; ask for an invite",
        ))
    }

    /// Invites `target`; `is_direct` marks direct-message invites.
    pub async fn invite(
        &self,
        user: &AuthedUser,
        room_id: &RoomId,
        target: &UserId,
        reason: Option<String>,
        is_direct: bool,
    ) -> Result<()> {
        self.rooms.room_version(room_id)?;
        let state = self.rooms.current_state(room_id)?;
        if self.rooms.membership_in(&state, target)? == Some(MembershipState::Join) {
            return Err(Error::forbidden(format!("{target} is already in the room")));
        }
        self.check_invite_permitted(target, &user.user_id)?;
        if self.shadow_banned(user)? {
            return Ok(());
        }
        let mut extra = Map::new();
        if is_direct {
            extra.insert("is_direct".to_owned(), Value::Bool(true));
        }
        self.set_membership(&user.user_id, room_id, target, MembershipState::Invite, reason, extra)
            .await
    }

    /// Refuses an invite of a local user who blocks invites from `inviter`
    /// ([`crate::invite_permission`]).
    pub(crate) fn check_invite_permitted(&self, target: &UserId, inviter: &UserId) -> Result<()> {
        if target.server_name() == self.config.server_name
            && crate::invite_permission::invite_rule(self.rooms.db(), target, inviter)?
                == crate::invite_permission::InviteRule::Block
        {
            return Err(crate::invite_permission::blocked(target));
        }
        Ok(())
    }

    /// Leaves a room (or rejects an invite, or withdraws a knock).
    pub async fn leave(&self, user: &AuthedUser, room_id: &RoomId, reason: Option<String>) -> Result<()> {
        self.rooms.room_version(room_id)?;
        crate::server_notices::check_leave(self.rooms.db(), &user.user_id, room_id)?;
        self.set_membership(
            &user.user_id,
            room_id,
            &user.user_id,
            MembershipState::Leave,
            reason,
            Map::new(),
        )
        .await
    }

    /// Kicks `target` (membership `leave` sent by someone else).
    pub async fn kick(
        &self,
        user: &AuthedUser,
        room_id: &RoomId,
        target: &UserId,
        reason: Option<String>,
    ) -> Result<()> {
        self.rooms.room_version(room_id)?;
        let state = self.rooms.current_state(room_id)?;
        if !matches!(
            self.rooms.membership_in(&state, target)?,
            Some(MembershipState::Join | MembershipState::Invite | MembershipState::Knock)
        ) {
            return Err(Error::forbidden(format!("{target} is not in the room")));
        }
        self.set_leave(&user.user_id, room_id, target, reason).await
    }

    /// Sets `target`'s membership to `leave` as `sender` (a kick, or lifting a ban).
    async fn set_leave(
        &self,
        sender: &UserId,
        room_id: &RoomId,
        target: &UserId,
        reason: Option<String>,
    ) -> Result<()> {
        self.set_membership(sender, room_id, target, MembershipState::Leave, reason, Map::new())
            .await
    }

    /// Bans `target`.
    pub async fn ban(
        &self,
        user: &AuthedUser,
        room_id: &RoomId,
        target: &UserId,
        reason: Option<String>,
    ) -> Result<()> {
        self.rooms.room_version(room_id)?;
        self.set_membership(&user.user_id, room_id, target, MembershipState::Ban, reason, Map::new())
            .await
    }

    /// Lifts a ban (membership back to `leave`).
    pub async fn unban(
        &self,
        user: &AuthedUser,
        room_id: &RoomId,
        target: &UserId,
        reason: Option<String>,
    ) -> Result<()> {
        self.rooms.room_version(room_id)?;
        let state = self.rooms.current_state(room_id)?;
        if self.rooms.membership_in(&state, target)? != Some(MembershipState::Ban) {
            return Err(Error::forbidden(format!("{target} is not banned")));
        }
        self.set_leave(&user.user_id, room_id, target, reason).await
    }

    /// Knocks on a room (room versions 7+ with `join_rule: knock`).
    pub async fn knock(&self, user: &AuthedUser, room: &RoomOrAliasId, reason: Option<String>) -> Result<OwnedRoomId> {
        let room_id = self.resolve_room(room)?;
        self.set_membership(
            &user.user_id,
            &room_id,
            &user.user_id,
            MembershipState::Knock,
            reason,
            Map::new(),
        )
        .await?;
        Ok(room_id)
    }

    /// Forgets a room the user has left: it disappears from their sync.
    pub async fn forget(&self, user: &AuthedUser, room_id: &RoomId) -> Result<()> {
        match self.rooms.forget(&user.user_id, room_id).await? {
            Forget::Forgotten => Ok(()),
            Forget::NeverMember => Err(Error::not_found(format!("You were never in {room_id}"))),
            // 400 M_UNKNOWN, the spec's example for this case (and what Synapse answers).
            Forget::StillMember => Err(Error::new(
                ruma::api::error::ErrorKind::Unknown,
                "Leave the room before forgetting it",
            )),
        }
    }
}
