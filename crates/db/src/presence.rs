//! Presence: each user's latest state, and the stream of changes for `/sync`.

use crate::database::decode_id;
use accord_storage::{Direction, WriteBatch};
use ruma::{OwnedUserId, UserId};
use serde::{Deserialize, Serialize};

use crate::{
    Db, Result,
    database::encode,
    rooms::decode_count,
    tables::{COUNT_PRESENCEUSERID, USERID_PRESENCE},
};

/// A user's presence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceRecord {
    /// `online`, `unavailable` or `offline`.
    pub presence: String,
    /// Free-text status.
    pub status_msg: Option<String>,
    /// Last activity, ms since the epoch.
    pub last_active_ts: u64,
    /// Stream position of the last change.
    pub count: u64,
}

impl Db {
    /// A user's presence, if ever set.
    pub fn get_presence(&self, user_id: &UserId) -> Result<Option<PresenceRecord>> {
        self.get_json(USERID_PRESENCE, user_id.as_bytes())
    }

    /// Queues storing a presence change at `record.count`.
    pub fn put_presence(&self, batch: &mut WriteBatch, user_id: &UserId, record: &PresenceRecord) {
        batch.put(USERID_PRESENCE, user_id.as_bytes(), encode(record));
        batch.put(COUNT_PRESENCEUSERID, record.count.to_be_bytes(), user_id.as_bytes());
    }

    /// Users whose presence changed in `(since, until]`.
    pub fn presence_changes(&self, since: u64, until: u64) -> Result<Vec<OwnedUserId>> {
        let mut users = Vec::new();
        let start = since.saturating_add(1).to_be_bytes();
        for item in self
            .engine()
            .iter_from(COUNT_PRESENCEUSERID, Some(&start), Direction::Forward)?
        {
            let (key, value) = item?;
            if decode_count(COUNT_PRESENCEUSERID, &key)? > until {
                break;
            }
            let user: OwnedUserId = decode_id(COUNT_PRESENCEUSERID, &value)?;
            if !users.contains(&user) {
                users.push(user);
            }
        }
        Ok(users)
    }
}
