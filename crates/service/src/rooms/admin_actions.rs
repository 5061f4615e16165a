//! What server admins do to rooms (Synapse's admin room API): block, shut down (every local
//! member made to leave, local aliases removed, unpublished, optionally blocked) and make a
//! user room admin through the room's most powerful local member. Each leaves an audit record.

use accord_core::time::now_millis;
use accord_db::{AuditEvent, WriteBatch, rooms::RoomBlock};
use accord_room::PduTemplate;
use ruma::{
    Int, OwnedUserId, RoomId, UserId,
    events::{StateEventType, room::member::MembershipState, room::power_levels::UserPowerLevel},
};
use serde_json::{Map, Value};

use super::RoomService;
use crate::{Error, Result, audit::kinds};

/// The level a user is given when the member granting it is a creator of a room version 12
/// room (whose power is above any number): the usual level of an admin.
const ADMIN_LEVEL: i32 = 100;

/// What a shutdown did, in the shape of Synapse's answer.
#[derive(Debug, Clone, Default)]
pub struct ShutdownReport {
    /// Local members made to leave.
    pub kicked_users: Vec<OwnedUserId>,
    /// Local members whose leave could not be sent.
    pub failed_to_kick_users: Vec<OwnedUserId>,
    /// The local aliases removed.
    pub local_aliases: Vec<String>,
}

impl RoomService {
    /// Blocks `room_id` (or lifts the block); rooms the server doesn't know can be blocked
    /// ahead. Whether it is blocked after.
    pub fn set_room_block(&self, admin: &UserId, room_id: &RoomId, on: bool) -> Result<bool> {
        let db = self.rooms.db();
        let mut batch = WriteBatch::new();
        let block = RoomBlock {
            user_id: admin.to_owned(),
            ts: now_millis(),
        };
        db.put_room_block(&mut batch, room_id, on.then_some(&block));
        let event = AuditEvent::new(kinds::ROOM_BLOCK_CHANGED)
            .actor(admin)
            .target(room_id)
            .detail("blocked", on);
        db.write_audited(batch, event)?;
        Ok(on)
    }

    /// Who blocked `room_id`, if anyone.
    pub fn room_block(&self, room_id: &RoomId) -> Result<Option<RoomBlock>> {
        Ok(self.rooms.db().room_block(room_id)?)
    }

    /// Shuts a room down for this server: every local member (joined, invited or knocking)
    /// leaves, local aliases go, the room leaves the directory, and with `block` no local user
    /// can come back. The room's history stays until purged.
    pub async fn shutdown_room(&self, admin: &UserId, room_id: &RoomId, block: bool) -> Result<ShutdownReport> {
        let db = self.rooms.db();
        let mut report = ShutdownReport::default();
        if block {
            self.set_room_block(admin, room_id, true)?;
        }
        if db.get_room_meta(room_id)?.is_none() {
            // Synapse answers an unknown room with an empty report (blocked ahead if asked).
            return Ok(report);
        }
        let local = &self.config.server_name;
        for (member, membership) in db.members_of_room(room_id)? {
            let leaving = matches!(
                membership,
                MembershipState::Join | MembershipState::Invite | MembershipState::Knock
            );
            if member.server_name() != local || !leaving {
                continue;
            }
            let reason = Some("This room has been shut down by the server's administrators".to_owned());
            match self
                .set_membership(&member, room_id, &member, MembershipState::Leave, reason, Map::new())
                .await
            {
                Ok(()) => report.kicked_users.push(member),
                Err(err) => {
                    tracing::warn!(%err, user = %member, room = %room_id, "could not make a member leave at shutdown");
                    report.failed_to_kick_users.push(member);
                }
            }
        }
        let mut batch = WriteBatch::new();
        for alias in db.aliases_of_room(room_id)? {
            if alias.server_name() == local {
                db.delete_alias(&mut batch, &alias, room_id);
                report.local_aliases.push(alias.to_string());
            }
        }
        db.set_published(&mut batch, room_id, false);
        let event = AuditEvent::new(kinds::ROOM_SHUTDOWN)
            .actor(admin)
            .target(room_id)
            .detail("block", block)
            .detail("kicked_users", report.kicked_users.len())
            .detail("failed_to_kick_users", report.failed_to_kick_users.len())
            .detail("local_aliases", report.local_aliases.clone());
        db.write_audited(batch, event)?;
        tracing::warn!(admin = %admin, room = %room_id, kicked = report.kicked_users.len(), "room shut down");
        Ok(report)
    }

    /// Gives `target` the power of the room's most powerful local member, through that
    /// member (Synapse's make_room_admin), and invites `target` if not in the room. 400 when no
    /// local member may change the power levels.
    pub async fn make_room_admin(&self, admin: &UserId, room_id: &RoomId, target: &UserId) -> Result<()> {
        let state = self.rooms.current_state(room_id)?;
        let levels = self.room_power_levels(&state)?;
        let local = &self.config.server_name;
        let granter = self
            .rooms
            .db()
            .members_of_room(room_id)?
            .into_iter()
            .filter(|(member, membership)| member.server_name() == local && *membership == MembershipState::Join)
            .map(|(member, _)| member)
            .filter(|member| levels.user_can_send_state(member, StateEventType::RoomPowerLevels))
            .max_by(|a, b| levels.for_user(a).cmp(&levels.for_user(b)))
            .ok_or_else(|| Error::invalid_param(format!("No local member of {room_id} may change its power levels")))?;
        if levels.for_user(target) == UserPowerLevel::Infinite {
            return Ok(());
        }
        let level = match levels.for_user(&granter) {
            UserPowerLevel::Int(level) => level,
            // A creator of a version 12 room (or a level ruma may add later).
            _ => Int::from(ADMIN_LEVEL),
        };
        let mut content = match self.rooms.state_event(&state, &StateEventType::RoomPowerLevels, "")? {
            Some(pdu) => pdu.content_value(),
            None => Value::Object(Map::new()),
        };
        if let Some(object) = content.as_object_mut() {
            let users = object.entry("users").or_insert_with(|| Value::Object(Map::new()));
            if let Some(users) = users.as_object_mut() {
                users.insert(target.to_string(), Value::from(i64::from(level)));
            }
        }
        let guard = self.rooms.lock(room_id).await;
        let template = PduTemplate::state(StateEventType::RoomPowerLevels, "", content);
        self.rooms.send_and_release(guard, &granter, template, None).await?;
        let joined =
            self.rooms.membership_in(&self.rooms.current_state(room_id)?, target)? == Some(MembershipState::Join);
        if !joined {
            self.set_membership(&granter, room_id, target, MembershipState::Invite, None, Map::new())
                .await?;
        }
        let event = AuditEvent::new(kinds::ROOM_ADMIN_GRANTED)
            .actor(admin)
            .target(room_id)
            .detail("user_id", target.as_str())
            .detail("granted_by", granter.as_str())
            .detail("invited", !joined);
        self.rooms.db().audit(event)?;
        Ok(())
    }

    /// Redacts `event_id` as its sender `user_id` for an erasure: no rate limit or power
    /// check (it is the user's own event, and an admin asked).
    pub(crate) async fn redact_for_erasure(
        &self,
        user_id: &UserId,
        room_id: &RoomId,
        event_id: &ruma::EventId,
    ) -> Result<()> {
        let guard = self.rooms.lock(room_id).await;
        let template = PduTemplate {
            kind: ruma::events::TimelineEventType::RoomRedaction,
            content: Value::Object(Map::new()),
            state_key: None,
            redacts: Some(event_id.to_owned()),
            origin_server_ts: None,
        };
        self.rooms.send_and_release(guard, user_id, template, None).await?;
        Ok(())
    }

    /// Makes `user_id` leave `room_id` for an erasure (or reject an invite, withdraw a knock).
    pub(crate) async fn leave_for_erasure(&self, user_id: &UserId, room_id: &RoomId) -> Result<()> {
        self.set_membership(user_id, room_id, user_id, MembershipState::Leave, None, Map::new())
            .await
    }
}
