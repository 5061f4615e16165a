//! Deleting every row a local user owns, for erasure: each table whose key starts with the
//! user id (`userid_*`: profile, devices and their keys, account data, presence, push rules,
//! pushers, filters, key backups, notifications, to-device messages, cross-signing keys,
//! thread subscriptions, media index, ...). The account row itself is kept (deactivated and
//! marked erased) so the id is never given to someone else.

use accord_storage::{WriteBatch, codec::KeyBuilder};
use ruma::UserId;

use crate::{Db, Result, tables};

/// Rows deleted per batch.
const BATCH: usize = 1000;

impl Db {
    /// Deletes every row keyed by `user_id` in every `userid_*` table but the account;
    /// returns how many went.
    pub fn delete_user_rows(&self, user_id: &UserId) -> Result<usize> {
        let exact = user_id.as_bytes().to_vec();
        let prefix = KeyBuilder::new().str(user_id.as_str()).prefix();
        let mut deleted = 0;
        for table in tables::ALL {
            if !table.name.starts_with("userid_") || table.name == tables::USERID_ACCOUNT {
                continue;
            }
            let mut keys = self.scan_keys(table.name, &prefix)?;
            if self.get_raw(table.name, &exact)?.is_some() {
                keys.push(exact.clone());
            }
            for chunk in keys.chunks(BATCH) {
                let mut batch = WriteBatch::new();
                for key in chunk {
                    batch.delete(table.name, key.clone());
                }
                self.write(batch)?;
            }
            deleted += keys.len();
        }
        Ok(deleted)
    }
}
