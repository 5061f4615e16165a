//! Typing notifications: in memory (they matter for seconds), each change at a stream position
//! so long-polling syncs wake for it, and expiry announced when a typer times out.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use ruma::{OwnedRoomId, OwnedUserId, RoomId, UserId};
use serde_json::{Value, json};

use super::RoomService;
use crate::{AuthedUser, Error, Result};

/// Longest a client may claim to keep typing.
const MAX_TYPING_TIMEOUT: Duration = Duration::from_secs(120);

/// Who is typing in one room, and when that last changed.
#[derive(Debug, Default)]
pub(crate) struct RoomTyping {
    until: HashMap<OwnedUserId, Instant>,
    changed_at: u64,
}

/// Typing state of all rooms.
pub(crate) type TypingState = HashMap<OwnedRoomId, RoomTyping>;

impl RoomService {
    /// `PUT /rooms/{roomId}/typing/{userId}`.
    pub fn set_typing(
        &self,
        user: &AuthedUser,
        room_id: &RoomId,
        target: &UserId,
        timeout: Option<Duration>,
    ) -> Result<()> {
        if target != user.user_id {
            return Err(Error::forbidden("You can only set your own typing state"));
        }
        self.joined_state(room_id, &user.user_id)?;
        self.apply_typing(room_id, &user.user_id, timeout)
    }

    /// Records that `user_id` (local or remote) started (`Some(timeout)`) or stopped typing.
    pub fn apply_typing(&self, room_id: &RoomId, user_id: &UserId, timeout: Option<Duration>) -> Result<()> {
        let user = user_id;
        let db = self.rooms.db();
        let deadline = timeout.map(|t| Instant::now() + t.min(MAX_TYPING_TIMEOUT));
        db.write_at_next_count(|batch, count| {
            let mut typing = self.typing.lock();
            let room = typing.entry(room_id.to_owned()).or_default();
            match deadline {
                Some(deadline) => {
                    room.until.insert(user.to_owned(), deadline);
                }
                None => {
                    room.until.remove(user);
                }
            }
            room.changed_at = count;
            db.put_room_change(batch, room_id, count);
        })?;
        if let Some(timeout) = timeout {
            // Announce the expiry, unless the user typed again or stopped meanwhile.
            let service = self.clone();
            let (room_id, user_id) = (room_id.to_owned(), user.to_owned());
            let mut stopping = self.stopping.subscribe();
            tokio::spawn(async move {
                tokio::select! {
                    () = tokio::time::sleep(timeout.min(MAX_TYPING_TIMEOUT)) => {}
                    _ = stopping.wait_for(|stop| *stop) => return,
                }
                let expired = service
                    .typing
                    .lock()
                    .get(&room_id)
                    .and_then(|room| room.until.get(&user_id))
                    .is_some_and(|until| *until <= Instant::now());
                if expired {
                    let db = service.rooms.db().clone();
                    let _ = db.write_at_next_count(|batch, count| {
                        if let Some(room) = service.typing.lock().get_mut(&room_id) {
                            room.until.remove(&user_id);
                            room.changed_at = count;
                        }
                        db.put_room_change(batch, &room_id, count);
                    });
                }
            });
        }
        Ok(())
    }

    /// The `m.typing` ephemeral event for a room: initially when someone types, incrementally
    /// when typing changed in `(since, until]`.
    pub(crate) fn typing_event(&self, room_id: &RoomId, since: Option<u64>, until: u64) -> Option<Value> {
        let typing = self.typing.lock();
        let room = typing.get(room_id)?;
        if room.changed_at > until || since.is_some_and(|since| room.changed_at <= since) {
            return None;
        }
        let now = Instant::now();
        let mut users: Vec<&str> = room
            .until
            .iter()
            .filter(|(_, until)| **until > now)
            .map(|(user, _)| user.as_str())
            .collect();
        if since.is_none() && users.is_empty() {
            return None;
        }
        users.sort_unstable();
        Some(json!({ "type": "m.typing", "content": { "user_ids": users } }))
    }
}
