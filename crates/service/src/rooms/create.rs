//! `POST /createRoom`: the create event, the creator's join, power levels, preset state,
//! initial state, name, topic, invites, alias and directory visibility, in the spec's order.

use accord_room::{PduTemplate, RoomGuard, rules_for};
use ruma::{OwnedRoomAliasId, OwnedRoomId, OwnedUserId, RoomAliasId, RoomVersionId, UserId, events::StateEventType};
use serde_json::{Map, Value, json};

use super::RoomService;
use crate::{AuthedUser, Error, Result};

/// What the client asked for (already parsed by the api layer).
#[derive(Debug, Clone, Default)]
pub struct CreateRoom {
    /// `private_chat`, `public_chat` or `trusted_private_chat`.
    pub preset: Option<String>,
    /// `public` publishes the room in the directory.
    pub visibility_public: bool,
    /// Local part of an alias to create.
    pub room_alias_name: Option<String>,
    /// `m.room.name`.
    pub name: Option<String>,
    /// `m.room.topic`.
    pub topic: Option<String>,
    /// Users to invite.
    pub invite: Vec<OwnedUserId>,
    /// Whether the invites are for a direct chat.
    pub is_direct: bool,
    /// Extra state events: `(type, state_key, content)`.
    pub initial_state: Vec<(String, String, Value)>,
    /// Replaces keys of the default power levels.
    pub power_level_content_override: Option<Map<String, Value>>,
    /// Extra keys for the create event's content.
    pub creation_content: Option<Map<String, Value>>,
    /// Room version.
    pub room_version: Option<RoomVersionId>,
}

impl RoomService {
    /// Creates a room; returns its id.
    pub async fn create_room(&self, user: &AuthedUser, request: CreateRoom) -> Result<OwnedRoomId> {
        let version = request
            .room_version
            .clone()
            .unwrap_or_else(|| self.config.rooms.default_room_version.clone());
        let rules = rules_for(&version)?;
        let preset = match request.preset.as_deref() {
            Some(preset) => preset.to_owned(),
            None if request.visibility_public => "public_chat".to_owned(),
            None => "private_chat".to_owned(),
        };
        if !matches!(preset.as_str(), "private_chat" | "public_chat" | "trusted_private_chat") {
            return Err(Error::invalid_param(format!("Unknown preset {preset}")));
        }
        let alias = match &request.room_alias_name {
            Some(name) => Some(self.new_local_alias(name)?),
            None => None,
        };

        let creators_privileged = rules.authorization.explicitly_privilege_room_creators;
        let mut create_content = request.creation_content.clone().unwrap_or_default();
        create_content.insert("room_version".to_owned(), Value::String(version.to_string()));
        if !rules.authorization.use_room_create_sender {
            create_content.insert("creator".to_owned(), Value::String(user.user_id.to_string()));
        }
        let mut creators = vec![user.user_id.clone()];
        if creators_privileged {
            let additional = additional_creators(&create_content, &request, &preset)?;
            creators.extend(additional.iter().cloned());
            if !additional.is_empty() {
                let listed = additional.iter().map(|user| Value::String(user.to_string())).collect();
                create_content.insert("additional_creators".to_owned(), Value::Array(listed));
            }
            if let Some(listed) = request
                .power_level_content_override
                .as_ref()
                .and_then(|levels| levels.get("users"))
                .and_then(Value::as_object)
                && let Some(creator) = creators.iter().find(|creator| listed.contains_key(creator.as_str()))
            {
                return Err(Error::bad_json(format!(
                    "{creator} is a creator of the room: creators have no power level (room version {version})"
                )));
            }
        }
        let (room_id, guard) = self
            .rooms
            .create(&user.user_id, &version, Value::Object(create_content.clone()))
            .await?;
        let send = |guard: &RoomGuard, kind: StateEventType, key: &str, content: Value| {
            self.rooms
                .send(guard, &user.user_id, PduTemplate::state(kind, key, content), None)
        };

        let member = self.creator_member_content(&user.user_id)?;
        send(&guard, StateEventType::RoomMember, user.user_id.as_str(), member)?;

        let mut users = Map::new();
        if !creators_privileged {
            users.insert(user.user_id.to_string(), json!(100));
        }
        // Invitees of a trusted private chat are its admins; from room version 12 they are
        // its additional creators instead (above).
        if preset == "trusted_private_chat" && !creators_privileged {
            for invitee in &request.invite {
                users.insert(invitee.to_string(), json!(100));
            }
        }
        // Upgrading a room is a creator's act from room version 12, so the tombstone needs a
        // level above every admin's: 150 (the spec's example, and Synapse's value).
        let tombstone_level = if creators_privileged { 150 } else { 100 };
        let invite_level = if preset == "public_chat" { 50 } else { 0 };
        let mut power_levels = json!({
            "users": users,
            "users_default": 0,
            "events": {
                "m.room.name": 50, "m.room.power_levels": 100, "m.room.history_visibility": 100,
                "m.room.canonical_alias": 50, "m.room.avatar": 50, "m.room.tombstone": tombstone_level,
                "m.room.server_acl": 100, "m.room.encryption": 100,
            },
            "events_default": 0, "state_default": 50, "ban": 50, "kick": 50, "redact": 50,
            "invite": invite_level, "historical": 100, "notifications": { "room": 50 },
        });
        if let (Some(overrides), Value::Object(levels)) = (&request.power_level_content_override, &mut power_levels) {
            for (key, value) in overrides {
                levels.insert(key.clone(), value.clone());
            }
        }
        send(&guard, StateEventType::RoomPowerLevels, "", power_levels)?;

        if let Some(alias) = &alias {
            send(
                &guard,
                StateEventType::RoomCanonicalAlias,
                "",
                json!({ "alias": alias }),
            )?;
        }
        let (join_rule, guest_access) = match preset.as_str() {
            "public_chat" => ("public", "forbidden"),
            _ => ("invite", "can_join"),
        };
        let mut preset_state = vec![
            (StateEventType::RoomJoinRules, json!({ "join_rule": join_rule })),
            (
                StateEventType::RoomHistoryVisibility,
                json!({ "history_visibility": "shared" }),
            ),
        ];
        // No `m.room.guest_access` event means `forbidden`, so a public chat gets none: one
        // event less, and the room's events as Synapse creates them (Complement's
        // TestInboundCanReturnMissingEvents checks their exact order).
        if guest_access != "forbidden" {
            preset_state.push((StateEventType::RoomGuestAccess, json!({ "guest_access": guest_access })));
        }
        // initial_state overrides the preset's events of the same type and key.
        preset_state.retain(|(kind, _)| {
            !request
                .initial_state
                .iter()
                .any(|(t, k, _)| t == &kind.to_string() && k.is_empty())
        });
        for (kind, content) in preset_state {
            send(&guard, kind, "", content)?;
        }
        for (kind, key, content) in &request.initial_state {
            if kind == "m.room.create" || kind == "m.room.member" {
                return Err(Error::bad_json(format!("initial_state may not contain {kind}")));
            }
            send(&guard, StateEventType::from(kind.as_str()), key, content.clone())?;
        }
        if let Some(name) = &request.name {
            send(&guard, StateEventType::RoomName, "", json!({ "name": name }))?;
        }
        if let Some(topic) = &request.topic {
            // The plain `topic` and its rich form (spec v1.15, `m.topic`) side by side.
            let content = json!({
                "topic": topic,
                "m.topic": { "m.text": [{ "body": topic, "mimetype": "text/plain" }] },
            });
            send(&guard, StateEventType::RoomTopic, "", content)?;
        }
        for invitee in &request.invite {
            if invitee.server_name() != self.config.server_name && self.config.federation.enabled {
                // Invited through their own server once the room exists
                // (`Services::create_room_anywhere`): the invite needs its signature.
                continue;
            }
            // The room is still created; only this invite is left out (spec: invite
            // permission).
            if let Err(err) = self.check_invite_permitted(invitee, &user.user_id) {
                tracing::info!(%invitee, %err, "createRoom invite refused");
                continue;
            }
            let mut content = json!({ "membership": "invite" });
            if request.is_direct {
                content["is_direct"] = json!(true);
            }
            if invitee.server_name() == self.config.server_name {
                let profile = self.rooms.db().profile(invitee)?;
                for field in ["displayname", "avatar_url"] {
                    if let Some(value) = profile.get(field) {
                        content[field] = value.clone();
                    }
                }
            }
            send(&guard, StateEventType::RoomMember, invitee.as_str(), content)?;
        }

        let mut batch = accord_db::WriteBatch::new();
        if let Some(alias) = &alias {
            self.rooms.db().put_alias(
                &mut batch,
                alias,
                &accord_db::rooms::AliasRecord {
                    room_id: room_id.clone(),
                    creator: user.user_id.clone(),
                },
            );
        }
        if request.visibility_public {
            self.rooms.db().set_published(&mut batch, &room_id, true);
        }
        self.rooms.db().write(batch)?;
        drop(guard);
        tracing::info!(room = %room_id, %version, creator = %user.user_id, "room created");
        Ok(room_id)
    }

    pub(crate) fn creator_member_content(&self, user_id: &ruma::UserId) -> Result<Value> {
        let mut content = json!({ "membership": "join" });
        let profile = self.rooms.db().profile(user_id)?;
        for field in ["displayname", "avatar_url"] {
            if let Some(value) = profile.get(field) {
                content[field] = value.clone();
            }
        }
        Ok(content)
    }

    /// Validates a new local alias `#name:server` and checks it is free (`M_ROOM_IN_USE`).
    pub(crate) fn new_local_alias(&self, name: &str) -> Result<OwnedRoomAliasId> {
        let alias = RoomAliasId::parse(format!("#{name}:{}", self.config.server_name))
            .map_err(|err| Error::invalid_param(format!("Invalid alias name {name:?}: {err}")))?;
        if name.contains(':') || name.contains(char::is_whitespace) {
            return Err(Error::invalid_param(format!("Invalid alias name {name:?}")));
        }
        if self.rooms.db().get_alias(&alias)?.is_some() {
            return Err(Error::new(
                ruma::api::error::ErrorKind::RoomInUse,
                format!("Alias {alias} is already in use"),
            ));
        }
        Ok(alias)
    }
}

/// The room's additional creators (room version 12, MSC4289): those listed in
/// `creation_content.additional_creators`, which must be a list of user ids (400 otherwise),
/// and, for a trusted private chat, the invitees, without duplicates.
fn additional_creators(
    create_content: &Map<String, Value>,
    request: &CreateRoom,
    preset: &str,
) -> Result<Vec<OwnedUserId>> {
    let mut creators: Vec<OwnedUserId> = Vec::new();
    if let Some(listed) = create_content.get("additional_creators") {
        let Some(listed) = listed.as_array() else {
            return Err(Error::bad_json(
                "creation_content.additional_creators must be a list of user ids",
            ));
        };
        for entry in listed {
            let user = entry
                .as_str()
                .and_then(|text| UserId::parse(text).ok())
                .ok_or_else(|| Error::bad_json(format!("additional_creators: {entry} is not a user id")))?;
            if !creators.contains(&user) {
                creators.push(user);
            }
        }
    }
    if preset == "trusted_private_chat" {
        for invitee in &request.invite {
            if !creators.contains(invitee) {
                creators.push(invitee.clone());
            }
        }
    }
    Ok(creators)
}
