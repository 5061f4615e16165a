//! Read receipts across servers: public `m.read` receipts of local users go to every other
//! server in the room as `m.receipt` EDUs; receipts from other servers are applied for their
//! own users who are joined here, in rooms whose ACL admits the origin.

use accord_core::time::now_millis;
use ruma::{EventId, RoomId, ServerName, UserId};
use serde_json::{Value, json};

use crate::{AuthedUser, Result, Services, rooms::receipts::READ};

impl Services {
    /// Sets a receipt (`m.read`, `m.read.private`); public ones are also sent to other servers.
    pub fn set_receipt_anywhere(
        &self,
        user: &AuthedUser,
        room_id: &RoomId,
        kind: &str,
        event_id: &EventId,
    ) -> Result<()> {
        self.rooms.set_receipt(user, room_id, kind, event_id)?;
        if kind != READ {
            return Ok(());
        }
        if let Some(federation) = &self.federation {
            let edu = json!({
                "edu_type": "m.receipt",
                "content": { room_id.as_str(): { READ: { user.user_id.as_str(): {
                    "event_ids": [event_id],
                    "data": { "ts": now_millis() },
                } } } },
            });
            for server in self.rooms.rooms().remote_servers(room_id, &["join"])? {
                federation.queue_edu(&server, edu.clone());
            }
        }
        Ok(())
    }

    /// An `m.receipt` EDU from `origin`. Anything malformed or not `origin`'s is ignored.
    pub fn receive_receipt_edu(&self, origin: &ServerName, content: &Value) {
        let Some(rooms) = content.as_object() else { return };
        for (room, by_type) in rooms {
            let Ok(room_id) = RoomId::parse(room) else { continue };
            let admitted = self
                .rooms
                .rooms()
                .server_allowed_in_room(&room_id, origin)
                .unwrap_or(false);
            if !admitted {
                continue;
            }
            let Some(users) = by_type.get(READ).and_then(Value::as_object) else {
                continue;
            };
            for (user, receipt) in users {
                let Ok(user_id) = UserId::parse(user) else { continue };
                if user_id.server_name() != origin {
                    continue;
                }
                let ts = receipt["data"]["ts"].as_u64().unwrap_or_else(now_millis);
                // Spec: `event_ids` lists the event(s) read; the last known one counts.
                for event_id in receipt["event_ids"].as_array().into_iter().flatten() {
                    let Some(event_id) = event_id.as_str().and_then(|e| EventId::parse(e).ok()) else {
                        continue;
                    };
                    if let Err(err) = self.rooms.apply_remote_receipt(&room_id, &user_id, &event_id, ts) {
                        tracing::debug!(%origin, %err, "remote receipt not applied");
                    }
                }
            }
        }
    }
}
