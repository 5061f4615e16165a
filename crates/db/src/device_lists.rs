//! The stream of device list changes: which users' devices or device keys changed at which
//! stream position, so clients learn whose keys to fetch again.

use accord_storage::{Direction, WriteBatch};
use ruma::{OwnedUserId, UserId};

use crate::{Db, Result, database::decode_id, rooms::decode_count, tables::COUNT_DEVICELISTUSERID};

impl Db {
    /// Queues recording that `user_id`'s device list changed at `count`.
    pub fn put_device_list_change(&self, batch: &mut WriteBatch, count: u64, user_id: &UserId) {
        batch.put(COUNT_DEVICELISTUSERID, count.to_be_bytes(), user_id.as_bytes());
    }

    /// Records, at the next stream position, that `user_id`'s device list changed (after the
    /// change itself is written, so a client that refetches sees it).
    pub fn record_device_list_change(&self, user_id: &UserId) -> Result<u64> {
        self.write_at_next_count(|batch, count| self.put_device_list_change(batch, count, user_id))
    }

    /// Users whose device lists changed in `(since, until]`, each once.
    pub fn device_list_changes(&self, since: u64, until: u64) -> Result<Vec<OwnedUserId>> {
        let mut users = Vec::new();
        let start = since.saturating_add(1).to_be_bytes();
        for item in self
            .engine()
            .iter_from(COUNT_DEVICELISTUSERID, Some(&start), Direction::Forward)?
        {
            let (key, value) = item?;
            if decode_count(COUNT_DEVICELISTUSERID, &key)? > until {
                break;
            }
            let user: OwnedUserId = decode_id(COUNT_DEVICELISTUSERID, &value)?;
            if !users.contains(&user) {
                users.push(user);
            }
        }
        Ok(users)
    }
}
