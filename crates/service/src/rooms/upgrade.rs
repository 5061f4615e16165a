//! `POST /rooms/{roomId}/upgrade` (spec: "Room Upgrades"): a replacement room of the new
//! version with the old one's transferable state, local aliases and directory listing moved,
//! the old room tombstoned and quietened.
//!
//! The order: the new room first (its id goes into the tombstone, and from room version 12
//! it is the hash of its create event), then the tombstone. So a failure part way leaves an
//! unused new room, never a tombstone pointing nowhere. `predecessor.event_id` (deprecated in
//! spec v1.16, "the last known event in the old room") is the old room's latest event before
//! the tombstone, and absent for a version 12 target as MSC4291 asks.

use std::collections::HashSet;

use accord_room::{PduTemplate, RoomGuard, RoomState, rules_for};
use ruma::{OwnedRoomId, OwnedUserId, RoomId, RoomVersionId, events::StateEventType};
use serde_json::{Map, Value, json};

use super::RoomService;
use crate::{AuthedUser, Error, Result};

/// State carried into the replacement room (the spec's recommended list).
const TRANSFERRED: &[&str] = &[
    "m.room.server_acl",
    "m.room.encryption",
    "m.room.name",
    "m.room.avatar",
    "m.room.topic",
    "m.room.guest_access",
    "m.room.history_visibility",
    "m.room.join_rules",
];

/// The level `invite` and `events_default` of the old room are raised to at least (spec: "the
/// greater of 50 and users_default + 1").
const QUIET_LEVEL: i64 = 50;

/// What the client asked for.
#[derive(Debug, Clone)]
pub struct UpgradeRequest {
    /// The replacement room's version.
    pub new_version: RoomVersionId,
    /// The replacement room's additional creators (room version 12): never carried over from
    /// the old room, only given here (spec v1.16).
    pub additional_creators: Vec<OwnedUserId>,
}

/// Rooms being upgraded right now: a second upgrade of one room waits its turn out (400).
#[derive(Debug, Default)]
pub(crate) struct UpgradesInFlight(parking_lot::Mutex<HashSet<OwnedRoomId>>);

struct InFlight<'a> {
    rooms: &'a UpgradesInFlight,
    room_id: OwnedRoomId,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.rooms.0.lock().remove(&self.room_id);
    }
}

impl UpgradesInFlight {
    fn begin(&self, room_id: &RoomId) -> Result<InFlight<'_>> {
        if !self.0.lock().insert(room_id.to_owned()) {
            return Err(Error::bad_json(format!(
                "An upgrade of {room_id} is already in progress"
            )));
        }
        Ok(InFlight {
            rooms: self,
            room_id: room_id.to_owned(),
        })
    }
}

impl RoomService {
    /// Upgrades `room_id`; returns the replacement room's id.
    pub async fn upgrade_room(
        &self,
        user: &AuthedUser,
        room_id: &RoomId,
        request: &UpgradeRequest,
    ) -> Result<OwnedRoomId> {
        // The version first, the room second, the power third: Synapse's order, which
        // Complement's upgrade tests check with a bogus room.
        let new_rules = rules_for(&request.new_version)?;
        if !self.rooms.exists(room_id)? {
            return Err(Error::not_found(format!("Room {room_id} not found")));
        }
        let old = self.joined_state(room_id, &user.user_id)?;
        if !self.can_send_state(&old, &user.user_id, StateEventType::RoomTombstone)? {
            return Err(Error::forbidden(format!(
                "You need the power to send m.room.tombstone to upgrade {room_id}"
            )));
        }
        let _in_flight = self.upgrades.begin(room_id)?;
        let old_rules = rules_for(&old.version)?;
        let privileged = new_rules.authorization.explicitly_privilege_room_creators;

        let mut create = Map::new();
        create.insert("room_version".to_owned(), json!(request.new_version.as_str()));
        let mut predecessor = json!({ "room_id": room_id });
        if !new_rules.authorization.room_create_event_id_as_room_id
            && let Some((_, latest)) = self
                .rooms
                .db()
                .timeline(room_id, u64::MAX, None, accord_db::Direction::Backward, 1)?
                .first()
        {
            predecessor["event_id"] = json!(self.rooms.db().event_meta(*latest)?.event_id);
        }
        create.insert("predecessor".to_owned(), predecessor);
        if !new_rules.authorization.use_room_create_sender {
            create.insert("creator".to_owned(), json!(user.user_id));
        }
        let old_create = self.state_content(&old, "m.room.create")?.unwrap_or_default();
        for key in ["type", "m.federate"] {
            if let Some(value) = old_create.get(key) {
                create.insert(key.to_owned(), value.clone());
            }
        }
        let mut additional: Vec<OwnedUserId> = Vec::new();
        if new_rules.authorization.additional_room_creators {
            for creator in &request.additional_creators {
                if creator != &user.user_id && !additional.contains(creator) {
                    additional.push(creator.clone());
                }
            }
            if !additional.is_empty() {
                create.insert("additional_creators".to_owned(), json!(additional));
            }
        }

        let (new_room, guard) = self
            .rooms
            .create(&user.user_id, &request.new_version, Value::Object(create))
            .await?;
        let send = |guard: &RoomGuard, kind: &str, key: &str, content: Value| {
            self.rooms.send(
                guard,
                &user.user_id,
                PduTemplate::state(StateEventType::from(kind), key, content),
                None,
            )
        };
        send(
            &guard,
            "m.room.member",
            user.user_id.as_str(),
            self.creator_member_content(&user.user_id)?,
        )?;

        // Power levels: the old room's, with the creators of a version 12 room taken out of
        // `users` (they hold power by being creators), and the upgrader raised for the
        // state this upgrade sends when the old levels would not let them.
        let mut levels = self.state_content(&old, "m.room.power_levels")?.unwrap_or_default();
        let users = levels.entry("users").or_insert_with(|| json!({}));
        if let Some(users) = users.as_object_mut() {
            if privileged {
                users.remove(user.user_id.as_str());
                for creator in &additional {
                    users.remove(creator.as_str());
                }
            } else if old_rules.authorization.explicitly_privilege_room_creators {
                // From a room where creators had no level to one where they need one.
                users.insert(user.user_id.to_string(), json!(100));
            }
        }
        let final_levels = Value::Object(levels.clone());
        let needed = needed_level(&levels);
        let raised = !privileged && level_of(&levels, user.user_id.as_str()) < needed;
        if raised && let Some(users) = levels.get_mut("users").and_then(Value::as_object_mut) {
            users.insert(user.user_id.to_string(), json!(needed));
        }
        send(&guard, "m.room.power_levels", "", Value::Object(levels))?;

        let space = old_create.get("type").and_then(Value::as_str) == Some("m.space");
        for (kind, key, content) in self.transferred_state(&old, space)? {
            send(&guard, &kind, &key, content)?;
        }
        for banned in self.banned_users(&old)? {
            send(&guard, "m.room.member", banned.as_str(), json!({ "membership": "ban" }))?;
        }
        if raised {
            send(&guard, "m.room.power_levels", "", final_levels)?;
        }
        drop(guard);

        self.tombstone_old_room(user, room_id, &new_room).await?;
        self.move_aliases(user, room_id, &new_room, &old).await?;
        self.quieten_old_room(user, room_id).await;
        tracing::info!(old = %room_id, new = %new_room, version = %request.new_version, by = %user.user_id, "room upgraded");
        Ok(new_room)
    }

    /// The content of the state event `(kind, "")`, when there is one.
    fn state_content(&self, state: &RoomState, kind: &str) -> Result<Option<Map<String, Value>>> {
        let event = self.rooms.state_event(state, &StateEventType::from(kind), "")?;
        Ok(event.and_then(|pdu| match pdu.content_value() {
            Value::Object(content) => Some(content),
            _ => None,
        }))
    }

    /// The transferable state of the old room; a space's children too.
    fn transferred_state(&self, old: &RoomState, space: bool) -> Result<Vec<(String, String, Value)>> {
        let mut state = Vec::new();
        for kind in TRANSFERRED {
            if let Some(content) = self.state_content(old, kind)? {
                state.push(((*kind).to_owned(), String::new(), Value::Object(content)));
            }
        }
        if space {
            for pdu in self.rooms.state_events(old)? {
                let content = pdu.content_value();
                if pdu.kind.to_string() == "m.space.child"
                    && let Some(key) = pdu.state_key
                    && content.as_object().is_some_and(|c| !c.is_empty())
                {
                    state.push((pdu.kind.to_string(), key, content));
                }
            }
        }
        Ok(state)
    }

    /// Users banned from the old room: banned from the new one too.
    fn banned_users(&self, old: &RoomState) -> Result<Vec<OwnedUserId>> {
        let mut banned = Vec::new();
        for pdu in self.rooms.state_events(old)? {
            if pdu.kind == ruma::events::TimelineEventType::RoomMember
                && pdu.content_value()["membership"] == "ban"
                && let Some(target) = pdu.state_key.as_deref().and_then(|key| ruma::UserId::parse(key).ok())
            {
                banned.push(target);
            }
        }
        Ok(banned)
    }

    async fn tombstone_old_room(&self, user: &AuthedUser, room_id: &RoomId, new_room: &RoomId) -> Result<()> {
        let guard = self.rooms.lock(room_id).await;
        let content = json!({ "body": "This room has been replaced", "replacement_room": new_room });
        let template = PduTemplate::state(StateEventType::RoomTombstone, "", content);
        self.rooms
            .send_and_release(guard, &user.user_id, template, None)
            .await?;
        Ok(())
    }

    /// Points the old room's local aliases, its canonical alias and its directory listing at
    /// the new room.
    async fn move_aliases(
        &self,
        user: &AuthedUser,
        room_id: &RoomId,
        new_room: &RoomId,
        old: &RoomState,
    ) -> Result<()> {
        let db = self.rooms.db();
        let local = db.aliases_of_room(room_id)?;
        let mut batch = accord_db::WriteBatch::new();
        for alias in &local {
            if let Some(mut record) = db.get_alias(alias)? {
                db.delete_alias(&mut batch, alias, room_id);
                record.room_id = new_room.to_owned();
                db.put_alias(&mut batch, alias, &record);
            }
        }
        if db.is_published(room_id)? {
            db.set_published(&mut batch, room_id, false);
            db.set_published(&mut batch, new_room, true);
        }
        db.write(batch)?;

        let Some(canonical) = self.state_content(old, "m.room.canonical_alias")? else {
            return Ok(());
        };
        let ours = |alias: &Value| {
            alias
                .as_str()
                .and_then(|a| ruma::RoomAliasId::parse(a).ok())
                .is_some_and(|a| a.server_name() == self.config.server_name)
        };
        let (mut kept, mut moved) = (Map::new(), Map::new());
        if let Some(alias) = canonical.get("alias") {
            let side = if ours(alias) { &mut moved } else { &mut kept };
            side.insert("alias".to_owned(), alias.clone());
        }
        if let Some(Value::Array(alt)) = canonical.get("alt_aliases") {
            let (mine, theirs): (Vec<Value>, Vec<Value>) = alt.iter().cloned().partition(ours);
            if !mine.is_empty() {
                moved.insert("alt_aliases".to_owned(), Value::Array(mine));
            }
            if !theirs.is_empty() {
                kept.insert("alt_aliases".to_owned(), Value::Array(theirs));
            }
        }
        if moved.is_empty() {
            return Ok(());
        }
        for (room, content) in [(room_id, kept), (new_room, moved)] {
            let guard = self.rooms.lock(room).await;
            let template = PduTemplate::state(StateEventType::RoomCanonicalAlias, "", Value::Object(content));
            if let Err(err) = self.rooms.send_and_release(guard, &user.user_id, template, None).await {
                tracing::info!(room = %room, %err, "canonical alias not moved in the upgrade");
            }
        }
        Ok(())
    }

    /// Raises `invite` and `events_default` of the old room so only moderators speak there;
    /// best effort (the upgrader may lack the power to change power levels).
    async fn quieten_old_room(&self, user: &AuthedUser, room_id: &RoomId) {
        let change = async {
            let guard = self.rooms.lock(room_id).await;
            let state = self.rooms.current_state(room_id)?;
            let mut levels = self.state_content(&state, "m.room.power_levels")?.unwrap_or_default();
            let floor = QUIET_LEVEL.max(int_at(&levels, "users_default", 0) + 1);
            let mut changed = false;
            for (key, default) in [("invite", 0), ("events_default", 0)] {
                if int_at(&levels, key, default) < floor {
                    levels.insert(key.to_owned(), json!(floor));
                    changed = true;
                }
            }
            if changed {
                let template = PduTemplate::state(StateEventType::RoomPowerLevels, "", Value::Object(levels));
                self.rooms
                    .send_and_release(guard, &user.user_id, template, None)
                    .await?;
            }
            Ok::<_, Error>(())
        };
        if let Err(err) = change.await {
            tracing::info!(room = %room_id, %err, "old room's power levels not raised after the upgrade");
        }
    }
}

/// An integer field of power levels content (levels may be strings in old rooms).
fn int_at(levels: &Map<String, Value>, key: &str, default: i64) -> i64 {
    levels.get(key).and_then(as_level).unwrap_or(default)
}

fn as_level(value: &Value) -> Option<i64> {
    value
        .as_i64()
        .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
}

/// A user's level in power levels content.
fn level_of(levels: &Map<String, Value>, user: &str) -> i64 {
    levels
        .get("users")
        .and_then(|users| users.get(user))
        .and_then(as_level)
        .unwrap_or_else(|| int_at(levels, "users_default", 0))
}

/// The level that sends every state event an upgrade copies: `state_default`, `ban`, and
/// each per-type level.
fn needed_level(levels: &Map<String, Value>) -> i64 {
    let mut needed = int_at(levels, "state_default", 50).max(int_at(levels, "ban", 50));
    if let Some(Value::Object(events)) = levels.get("events") {
        needed = events.values().filter_map(as_level).fold(needed, i64::max);
    }
    needed
}
