//! Sync filters uploaded by clients and referred to later by id.

use accord_db::{Db, WriteBatch};
use ruma::UserId;
use serde_json::Value;

use crate::{Error, Result};

/// Filter storage.
#[derive(Clone, Debug)]
pub struct Filters {
    db: Db,
    /// Serializes id allocation per process; ids are per-user counters.
    create_lock: std::sync::Arc<parking_lot::Mutex<()>>,
}

impl Filters {
    pub(crate) fn new(db: Db) -> Self {
        Self {
            db,
            create_lock: Default::default(),
        }
    }

    /// Stores a filter for the caller; returns its id.
    pub fn create(&self, caller: &UserId, target: &UserId, filter: Value) -> Result<String> {
        if caller != target {
            return Err(Error::forbidden("Cannot create filters for other users"));
        }
        let _guard = self.create_lock.lock();
        let filter_id = self.db.count_filters(target)?.to_string();
        let mut batch = WriteBatch::new();
        self.db.put_filter(&mut batch, target, &filter_id, &filter);
        self.db.write(batch)?;
        Ok(filter_id)
    }

    /// A stored filter; `M_NOT_FOUND` when unknown.
    pub fn get(&self, caller: &UserId, target: &UserId, filter_id: &str) -> Result<Value> {
        if caller != target {
            return Err(Error::forbidden("Cannot read filters of other users"));
        }
        self.db
            .get_filter(target, filter_id)?
            .ok_or_else(|| Error::not_found(format!("No filter {filter_id}")))
    }
}
