//! Statistics for admins (Synapse's `/_synapse/admin/v1/statistics/...`): each local user's
//! uploads (count and bytes, in a time window), and the rooms taking the most space.

use accord_db::Direction;
use serde::Serialize;
use serde_json::Value;

use super::Admin;
use crate::Result;

/// Rooms listed by size.
const LARGEST_ROOMS: usize = 10;
/// Timeline entries read per step when sizing a room.
const PAGE: usize = 1000;

/// One user's uploads.
#[derive(Debug, Clone, Serialize)]
pub struct UserMediaUsage {
    /// The user.
    pub user_id: String,
    /// Their display name.
    pub displayname: Option<String>,
    /// Uploads in the window.
    pub media_count: u64,
    /// Their bytes.
    pub media_length: u64,
}

/// One room's size in storage.
#[derive(Debug, Clone, Serialize)]
pub struct RoomSize {
    /// The room.
    pub room_id: String,
    /// Bytes of its stored events (their JSON), an estimate of what the room takes.
    pub estimated_size: u64,
}

impl Admin {
    /// Every local user with uploads created in `[from_ts, until_ts]`, with counts and bytes.
    pub fn media_usage(&self, from_ts: u64, until_ts: Option<u64>) -> Result<Vec<UserMediaUsage>> {
        let mut usage = Vec::new();
        for user_id in self.db.account_user_ids()? {
            if user_id.server_name() != self.server_name() {
                continue;
            }
            let (mut count, mut bytes) = (0, 0);
            for (media_id, size) in self.db.user_media(&user_id)? {
                let Some(record) = self.db.get_media(self.server_name(), &media_id)? else {
                    continue;
                };
                if record.created_ms < from_ts || until_ts.is_some_and(|until| record.created_ms > until) {
                    continue;
                }
                count += 1;
                bytes += size;
            }
            if count == 0 {
                continue;
            }
            let displayname = self
                .db
                .profile(&user_id)?
                .get("displayname")
                .and_then(Value::as_str)
                .map(str::to_owned);
            usage.push(UserMediaUsage {
                user_id: user_id.to_string(),
                displayname,
                media_count: count,
                media_length: bytes,
            });
        }
        Ok(usage)
    }

    /// The [`LARGEST_ROOMS`] rooms whose stored events take the most bytes, largest first.
    pub fn largest_rooms(&self) -> Result<Vec<RoomSize>> {
        let mut sizes = Vec::new();
        for room_id in self.db.room_ids()? {
            let mut size = 0u64;
            let mut from = 0;
            loop {
                let page = self.db.timeline(&room_id, from, None, Direction::Forward, PAGE)?;
                let Some(&(last, _)) = page.last() else {
                    break;
                };
                for (_, short) in &page {
                    if let Some(json) = self.db.get_pdu_json(*short)? {
                        size += serde_json::to_vec(&json).map_or(0, |bytes| bytes.len() as u64);
                    }
                }
                from = last;
            }
            sizes.push(RoomSize {
                room_id: room_id.to_string(),
                estimated_size: size,
            });
        }
        sizes.sort_by(|a, b| {
            b.estimated_size
                .cmp(&a.estimated_size)
                .then_with(|| a.room_id.cmp(&b.room_id))
        });
        sizes.truncate(LARGEST_ROOMS);
        Ok(sizes)
    }
}
