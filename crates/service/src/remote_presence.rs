//! Presence across servers (spec: server-server "Presence"): a local user's change of state or
//! status message goes as an `m.presence` EDU to every server with a member in a room they
//! share; EDUs from other servers are applied for the origin's own users who share a room with
//! a local user, and show in `/sync` like local presence.

use accord_core::time::now_millis;
use accord_db::PresenceRecord;
use ruma::{
    ServerName, UserId,
    api::federation::transactions::edu::{Edu, PresenceContent},
};

use crate::{
    Result, Services,
    presence::{STATES, presence_update},
};

impl Services {
    /// Queues `record` of local `user_id` for every other server sharing a room with them.
    pub(crate) fn send_presence_edu(&self, user_id: &UserId, record: &PresenceRecord) -> Result<()> {
        let Some(federation) = &self.federation else {
            return Ok(());
        };
        let servers = self.servers_sharing_rooms_with(user_id)?;
        if servers.is_empty() {
            return Ok(());
        }
        let edu = Edu::Presence(PresenceContent::new(vec![presence_update(user_id, record)]));
        for server in servers {
            federation.queue_edu(&server, &edu);
        }
        Ok(())
    }

    /// An `m.presence` EDU from `origin`. Updates for users of other servers, for users who
    /// share no room with a local user, and malformed ones are ignored.
    pub fn receive_presence_edu(&self, origin: &ServerName, content: &PresenceContent) {
        for update in &content.push {
            let user_id = &update.user_id;
            let presence = update.presence.as_str();
            if !STATES.contains(&presence) {
                continue;
            }
            if user_id.server_name() != origin || !self.shares_room_with_local_user(user_id) {
                continue;
            }
            let ago = u64::from(update.last_active_ago);
            let status_msg = update.status_msg.clone();
            if let Err(err) = self.write_presence(user_id, presence, status_msg, now_millis().saturating_sub(ago)) {
                tracing::warn!(%origin, user = %user_id, %err, "remote presence not stored");
            }
        }
    }

    /// Whether `user_id` is joined to a room this server is in.
    pub(crate) fn shares_room_with_local_user(&self, user_id: &UserId) -> bool {
        self.shares_room_with_local_user_memo(user_id, &mut ResidentMemo::new())
    }

    /// [`Self::shares_room_with_local_user`], remembering each room's answer in `memo` (for
    /// requests about many users in the same rooms).
    pub(crate) fn shares_room_with_local_user_memo(&self, user_id: &UserId, memo: &mut ResidentMemo) -> bool {
        let Ok(rooms) = self.rooms.joined_rooms(user_id) else {
            return false;
        };
        rooms.into_iter().any(|room| match memo.get(&room) {
            Some(resident) => *resident,
            None => {
                let resident = self.is_resident(&room).unwrap_or(false);
                memo.insert(room, resident);
                resident
            }
        })
    }
}

/// Whether this server is in each room asked about so far.
pub(crate) type ResidentMemo = std::collections::HashMap<ruma::OwnedRoomId, bool>;
