//! Stored sync filters. Filter ids are small per-user counters, so they stay short in URLs.

use accord_storage::{WriteBatch, codec::KeyBuilder};
use ruma::UserId;
use serde_json::Value;

use crate::{Db, Result, database::encode, tables::USERID_FILTERID_FILTER};

fn key(user_id: &UserId, filter_id: &str) -> Vec<u8> {
    KeyBuilder::new().str(user_id.as_str()).str(filter_id).build()
}

impl Db {
    /// A stored filter's JSON.
    pub fn get_filter(&self, user_id: &UserId, filter_id: &str) -> Result<Option<Value>> {
        self.get_json(USERID_FILTERID_FILTER, &key(user_id, filter_id))
    }

    /// How many filters `user_id` has stored; the next id is this number.
    pub fn count_filters(&self, user_id: &UserId) -> Result<usize> {
        Ok(self
            .scan_keys(
                USERID_FILTERID_FILTER,
                &KeyBuilder::new().str(user_id.as_str()).prefix(),
            )?
            .len())
    }

    /// Queues storing a filter.
    pub fn put_filter(&self, batch: &mut WriteBatch, user_id: &UserId, filter_id: &str, filter: &Value) {
        batch.put(USERID_FILTERID_FILTER, key(user_id, filter_id), encode(filter));
    }
}
