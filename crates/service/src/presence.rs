//! Presence: set explicitly or by syncing clients, visible to users who share a room, delivered
//! in `/sync` when it changes.

use ruma::events::room::member::MembershipState;
use std::collections::BTreeSet;

use accord_core::time::now_millis;
use accord_db::PresenceRecord;
use ruma::{OwnedUserId, UInt, UserId, events::presence::PresenceEventContent, presence::PresenceState};
use serde_json::{Value, json};

use crate::{AuthedUser, Error, Result, Services};

/// Presence states the spec defines.
pub(crate) const STATES: &[&str] = &["online", "unavailable", "offline"];
/// A user active this recently is `currently_active`.
const CURRENTLY_ACTIVE_MS: u64 = 5 * 60 * 1000;
/// Syncing refreshes `last_active` at most this often (each refresh is a write).
const ACTIVITY_REFRESH_MS: u64 = 60 * 1000;

impl Services {
    /// `PUT /presence/{userId}/status`.
    pub fn set_presence(
        &self,
        user: &AuthedUser,
        target: &UserId,
        presence: &str,
        status_msg: Option<String>,
    ) -> Result<()> {
        if target != user.user_id {
            return Err(Error::forbidden("You can only set your own presence"));
        }
        if !STATES.contains(&presence) {
            return Err(Error::invalid_param(format!("Unknown presence state {presence}")));
        }
        self.write_presence(&user.user_id, presence, status_msg, now_millis())
    }

    /// Stores a user's presence at the next stream position; a local user's change of state or
    /// status message also goes to the servers they share a room with.
    pub(crate) fn write_presence(
        &self,
        user_id: &UserId,
        presence: &str,
        status_msg: Option<String>,
        last_active_ts: u64,
    ) -> Result<()> {
        let db = self.db();
        let before = db.get_presence(user_id)?;
        let changed = before
            .as_ref()
            .is_none_or(|old| old.presence != presence || old.status_msg != status_msg);
        let mut written = None;
        db.write_at_next_count(|batch, count| {
            let record = PresenceRecord {
                presence: presence.to_owned(),
                status_msg,
                last_active_ts,
                count,
            };
            db.put_presence(batch, user_id, &record);
            written = Some(record);
        })?;
        if let Some(record) = written
            && changed
            && user_id.server_name() == self.config.server_name
        {
            self.send_presence_edu(user_id, &record)?;
        }
        Ok(())
    }

    /// `set_presence` of `/sync`: marks the user online (or unavailable) and active; `offline`
    /// leaves presence alone, as the spec says.
    pub fn presence_from_sync(&self, user_id: &UserId, set_presence: &str) -> Result<()> {
        if !matches!(set_presence, "online" | "unavailable") {
            return Ok(());
        }
        let current = self.db().get_presence(user_id)?;
        let stale = current.as_ref().is_none_or(|record| {
            record.presence != set_presence || now_millis().saturating_sub(record.last_active_ts) > ACTIVITY_REFRESH_MS
        });
        if stale {
            let status = current.and_then(|record| record.status_msg);
            self.write_presence(user_id, set_presence, status, now_millis())?;
        }
        Ok(())
    }

    /// `GET /presence/{userId}/status`: for yourself and users you share a room with.
    pub fn get_presence(&self, viewer: &UserId, target: &UserId) -> Result<PresenceEventContent> {
        if viewer != target && !self.shared_users(viewer)?.contains(target) {
            return Err(Error::forbidden(format!("You do not share a room with {target}")));
        }
        let record = self.db().get_presence(target)?;
        Ok(presence_content(record.as_ref()))
    }

    /// Everyone in the rooms `user_id` is joined to (including themselves).
    pub(crate) fn shared_users(&self, user_id: &UserId) -> Result<BTreeSet<OwnedUserId>> {
        let mut users = BTreeSet::from([user_id.to_owned()]);
        for room in self.rooms.joined_rooms(user_id)? {
            for (member, membership) in self.db().members_of_room(&room)? {
                if membership == MembershipState::Join {
                    users.insert(member);
                }
            }
        }
        Ok(users)
    }

    /// `m.presence` events for `/sync`: initially everyone visible with a presence; then those
    /// whose presence changed in `(since, until]`, and the users in `newly_shared` (who just
    /// started sharing a room) with their current presence, `offline` when they never set one.
    /// With `presence.include_offline_users_on_sync`, an initial sync lists everyone visible,
    /// `offline` when they never set one. `visible` is `shared_users(user_id)`.
    pub(crate) fn presence_events(
        &self,
        visible: &BTreeSet<OwnedUserId>,
        newly_shared: &BTreeSet<OwnedUserId>,
        since: Option<u64>,
        until: u64,
    ) -> Result<Vec<Value>> {
        let candidates: BTreeSet<OwnedUserId> = match since {
            None => visible.clone(),
            Some(since) => self
                .db()
                .presence_changes(since, until)?
                .into_iter()
                .filter(|u| visible.contains(u))
                .chain(newly_shared.iter().cloned())
                .collect(),
        };
        let include_offline = since.is_none() && self.config.presence.include_offline_users_on_sync;
        let mut events = Vec::new();
        for user in candidates {
            let record = self.db().get_presence(&user)?.filter(|r| r.count <= until);
            if record.is_some() || newly_shared.contains(&user) || include_offline {
                let content = presence_content(record.as_ref());
                events.push(json!({ "type": "m.presence", "sender": user, "content": content }));
            }
        }
        Ok(events)
    }
}

/// A local user's presence as the `m.presence` EDU carries it.
pub(crate) fn presence_update(
    user_id: &UserId,
    record: &PresenceRecord,
) -> ruma::api::federation::transactions::edu::PresenceUpdate {
    let content = presence_content(Some(record));
    let mut update = ruma::api::federation::transactions::edu::PresenceUpdate::new(
        user_id.to_owned(),
        content.presence,
        content.last_active_ago.unwrap_or_default(),
    );
    update.status_msg = content.status_msg;
    update.currently_active = content.currently_active.unwrap_or(false);
    update
}

/// A user's presence as clients see it; `offline` when never set.
pub(crate) fn presence_content(record: Option<&PresenceRecord>) -> PresenceEventContent {
    let Some(record) = record else {
        return PresenceEventContent::new(PresenceState::Offline);
    };
    let ago = now_millis().saturating_sub(record.last_active_ts);
    let mut content = PresenceEventContent::new(PresenceState::from(record.presence.as_str()));
    content.last_active_ago = Some(UInt::new_saturating(ago));
    content.currently_active = Some(record.presence == "online" && ago < CURRENTLY_ACTIVE_MS);
    content.status_msg = record.status_msg.clone();
    content
}
