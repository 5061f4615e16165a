//! Room aliases, canonical alias validation, directory visibility and `/publicRooms`.

use accord_db::{WriteBatch, rooms::AliasRecord};
use ruma::events::room::member::MembershipState;
use ruma::{
    OwnedMxcUri, OwnedRoomAliasId, RoomAliasId, RoomId, UInt,
    directory::{PublicRoomsChunk, PublicRoomsChunkInit},
    events::StateEventType,
    room::{JoinRuleKind, RoomType},
};
use serde_json::Value;

use super::RoomService;
use crate::{AuthedUser, Error, Result};

/// Largest `/publicRooms` page.
const MAX_PUBLIC_ROOMS_PAGE: usize = 500;

/// One page of a public room directory, this server's or another's.
#[derive(Debug, Default)]
pub struct PublicRoomsPage {
    /// The rooms.
    pub chunk: Vec<PublicRoomsChunk>,
    /// Token of the next page.
    pub next_batch: Option<String>,
    /// Token of the previous page.
    pub prev_batch: Option<String>,
    /// How many rooms the directory holds.
    pub total_room_count_estimate: Option<UInt>,
}

impl RoomService {
    fn local_alias<'a>(&self, alias: &'a RoomAliasId) -> Result<&'a RoomAliasId> {
        if alias.server_name() != self.config.server_name {
            return Err(Error::invalid_param(format!("{alias} is not an alias on this server")));
        }
        Ok(alias)
    }

    /// `PUT /directory/room/{roomAlias}`.
    pub async fn create_alias(&self, user: &AuthedUser, alias: &RoomAliasId, room_id: &RoomId) -> Result<()> {
        let alias = self.local_alias(alias)?;
        self.rooms.room_version(room_id)?;
        let _guard = self.rooms.lock(room_id).await;
        if self.rooms.db().get_alias(alias)?.is_some() {
            return Err(Error::Conflict(format!("Room alias {alias} already exists")));
        }
        self.joined_state(room_id, &user.user_id)?;
        let mut batch = WriteBatch::new();
        self.rooms.db().put_alias(
            &mut batch,
            alias,
            &AliasRecord {
                room_id: room_id.to_owned(),
                creator: user.user_id.clone(),
            },
        );
        Ok(self.rooms.db().write(batch)?)
    }

    /// `DELETE /directory/room/{roomAlias}`: by its creator, or by a member with power to
    /// change the canonical alias.
    pub async fn delete_alias(&self, user: &AuthedUser, alias: &RoomAliasId) -> Result<()> {
        let alias = self.local_alias(alias)?;
        let record = self
            .rooms
            .db()
            .get_alias(alias)?
            .ok_or_else(|| Error::not_found(format!("Room alias {alias} not found")))?;
        let guard = self.rooms.lock(&record.room_id).await;
        if record.creator != user.user_id {
            let state = self.rooms.current_state(&record.room_id)?;
            let allowed = self.rooms.membership_in(&state, &user.user_id)? == Some(MembershipState::Join)
                && self.can_send_state(&state, &user.user_id, StateEventType::RoomCanonicalAlias)?;
            if !allowed {
                return Err(Error::forbidden(
                    "Only the alias's creator or a room moderator can delete it",
                ));
            }
        }
        let mut batch = WriteBatch::new();
        self.rooms.db().delete_alias(&mut batch, alias, &record.room_id);
        self.rooms.db().write(batch)?;
        self.drop_from_canonical_alias(guard, user, &record.room_id, alias)
            .await
    }

    /// Takes a deleted alias out of the room's `m.room.canonical_alias`, sent as the user who
    /// deleted it. The spec only says a server may do so; Synapse does it, and clients (and
    /// Complement's TestRoomDeleteAlias) expect the change. A user without the power to send
    /// it still deleted the alias: the refusal is logged, not returned.
    async fn drop_from_canonical_alias(
        &self,
        guard: accord_room::RoomGuard,
        user: &AuthedUser,
        room_id: &RoomId,
        alias: &RoomAliasId,
    ) -> Result<()> {
        let state = self.rooms.current_state(room_id)?;
        let Some(pdu) = self
            .rooms
            .state_event(&state, &StateEventType::RoomCanonicalAlias, "")?
        else {
            return Ok(());
        };
        let mut content = pdu.content_value();
        let Some(map) = content.as_object_mut() else {
            return Ok(());
        };
        let mut changed = false;
        if map.get("alias").and_then(Value::as_str) == Some(alias.as_str()) {
            map.remove("alias");
            changed = true;
        }
        if let Some(Value::Array(alt)) = map.get_mut("alt_aliases") {
            let before = alt.len();
            alt.retain(|other| other.as_str() != Some(alias.as_str()));
            changed |= alt.len() != before;
            if alt.is_empty() {
                map.remove("alt_aliases");
            }
        }
        if !changed {
            return Ok(());
        }
        let template = accord_room::PduTemplate::state(StateEventType::RoomCanonicalAlias, "", content);
        match self.rooms.send_and_release(guard, &user.user_id, template, None).await {
            Ok(_) => Ok(()),
            Err(accord_room::Error::Unauthorized(reason)) => {
                tracing::info!(%room_id, %alias, %reason, "deleted alias left in the canonical alias event");
                Ok(())
            }
            Err(err) => Err(err.into()),
        }
    }

    /// `GET /rooms/{roomId}/aliases`.
    pub fn aliases(&self, user: &AuthedUser, room_id: &RoomId) -> Result<Vec<OwnedRoomAliasId>> {
        self.readable_state(room_id, &user.user_id)?;
        Ok(self.rooms.db().aliases_of_room(room_id)?)
    }

    /// Canonical alias content must name aliases that point to this room (`M_BAD_ALIAS`).
    pub(crate) fn check_canonical_alias(&self, room_id: &RoomId, content: &Value) -> Result<()> {
        let mut aliases: Vec<&str> = content.get("alias").and_then(Value::as_str).into_iter().collect();
        aliases.extend(
            content
                .get("alt_aliases")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str),
        );
        for alias in aliases {
            let bad = |why: &str| Error::new(ruma::api::error::ErrorKind::BadAlias, format!("{alias}: {why}"));
            // Spec: M_INVALID_PARAM for an alias that isn't one, M_BAD_ALIAS for one that
            // doesn't point here.
            let parsed = RoomAliasId::parse(alias)
                .map_err(|_| Error::invalid_param(format!("{alias} is not a valid room alias")))?;
            if parsed.server_name() == self.config.server_name
                && self
                    .rooms
                    .db()
                    .get_alias(&parsed)?
                    .is_none_or(|record| record.room_id != room_id)
            {
                return Err(bad("does not point to this room"));
            }
        }
        Ok(())
    }

    /// `GET /directory/list/room/{roomId}`.
    pub fn visibility(&self, room_id: &RoomId) -> Result<bool> {
        self.rooms.room_version(room_id)?;
        Ok(self.rooms.db().is_published(room_id)?)
    }

    /// `PUT /directory/list/room/{roomId}`: members with power to change the canonical alias.
    pub async fn set_visibility(&self, user: &AuthedUser, room_id: &RoomId, public: bool) -> Result<()> {
        let _guard = self.rooms.lock(room_id).await;
        let state = self.joined_state(room_id, &user.user_id)?;
        if !self.can_send_state(&state, &user.user_id, StateEventType::RoomCanonicalAlias)? {
            return Err(Error::forbidden(
                "You need moderator power to change the room's directory visibility",
            ));
        }
        let mut batch = WriteBatch::new();
        self.rooms.db().set_published(&mut batch, room_id, public);
        Ok(self.rooms.db().write(batch)?)
    }

    /// `/publicRooms`: published rooms, biggest first, filtered by a search term, paginated by
    /// offset tokens.
    pub fn public_rooms(
        &self,
        limit: Option<usize>,
        since: Option<&str>,
        search: Option<&str>,
    ) -> Result<PublicRoomsPage> {
        let term = search.map(str::to_lowercase).filter(|term| !term.is_empty());
        let mut chunk = Vec::new();
        for room_id in self.rooms.db().published_rooms()? {
            let entry = self.public_room_entry(&room_id)?;
            if let Some(term) = &term {
                let haystack = [
                    entry.name.as_deref(),
                    entry.topic.as_deref(),
                    entry.canonical_alias.as_ref().map(|a| a.as_str()),
                ]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ")
                .to_lowercase();
                if !haystack.contains(term.as_str()) {
                    continue;
                }
            }
            chunk.push(entry);
        }
        chunk.sort_by(|a, b| {
            b.num_joined_members
                .cmp(&a.num_joined_members)
                .then_with(|| a.room_id.cmp(&b.room_id))
        });
        let total = chunk.len();
        let offset: usize = match since {
            Some(token) => token
                .trim_start_matches('n')
                .parse()
                .map_err(|_| Error::invalid_param("Invalid `since` token"))?,
            None => 0,
        };
        let limit = limit.unwrap_or(MAX_PUBLIC_ROOMS_PAGE).clamp(1, MAX_PUBLIC_ROOMS_PAGE);
        Ok(PublicRoomsPage {
            chunk: chunk.into_iter().skip(offset).take(limit).collect(),
            next_batch: (offset + limit < total).then(|| format!("n{}", offset + limit)),
            prev_batch: (offset > 0).then(|| format!("n{}", offset.saturating_sub(limit))),
            total_room_count_estimate: UInt::try_from(total).ok(),
        })
    }

    /// A room's public summary (the directory's entry, and a space hierarchy's).
    pub(crate) fn public_room_entry(&self, room_id: &RoomId) -> Result<PublicRoomsChunk> {
        let state = self.rooms.current_state(room_id)?;
        let content = |kind: StateEventType| -> Result<Value> {
            Ok(self
                .rooms
                .state_event(&state, &kind, "")?
                .map(|p| p.content_value())
                .unwrap_or(Value::Null))
        };
        let text = |kind: StateEventType, field: &str| -> Result<Option<String>> {
            Ok(content(kind)?.get(field).and_then(Value::as_str).map(str::to_owned))
        };
        let joined = self
            .rooms
            .db()
            .members_of_room(room_id)?
            .into_iter()
            .filter(|(_, m)| *m == MembershipState::Join)
            .count();
        let mut entry = PublicRoomsChunk::from(PublicRoomsChunkInit {
            num_joined_members: UInt::try_from(joined).unwrap_or(UInt::MAX),
            room_id: room_id.to_owned(),
            world_readable: content(StateEventType::RoomHistoryVisibility)?["history_visibility"] == "world_readable",
            guest_can_join: content(StateEventType::RoomGuestAccess)?["guest_access"] == "can_join",
        });
        entry.join_rule = text(StateEventType::RoomJoinRules, "join_rule")?
            .map_or(JoinRuleKind::Invite, |rule| JoinRuleKind::from(rule.as_str()));
        entry.name = text(StateEventType::RoomName, "name")?;
        entry.topic = text(StateEventType::RoomTopic, "topic")?;
        entry.canonical_alias =
            text(StateEventType::RoomCanonicalAlias, "alias")?.and_then(|alias| OwnedRoomAliasId::try_from(alias).ok());
        entry.avatar_url = text(StateEventType::RoomAvatar, "url")?.map(OwnedMxcUri::from);
        entry.room_type = text(StateEventType::RoomCreate, "type")?.map(|kind| RoomType::from(kind.as_str()));
        Ok(entry)
    }
}
