//! Profiles: display name, avatar and other fields, readable by anyone, writable by the owner.

use std::sync::Arc;

use accord_core::Config;
use accord_db::{Db, WriteBatch};
use ruma::{UserId, api::error::ErrorKind};
use serde_json::{Map, Value};

use crate::{Error, Result};

/// The spec's cap on a whole profile, in bytes of JSON.
const MAX_PROFILE_BYTES: usize = 64 * 1024;
/// The spec's cap on a profile field name, in bytes.
const MAX_FIELD_NAME_BYTES: usize = 255;

/// Profile reads and writes.
#[derive(Clone, Debug)]
pub struct Profiles {
    config: Arc<Config>,
    db: Db,
}

impl Profiles {
    pub(crate) fn new(config: Arc<Config>, db: Db) -> Self {
        Self { config, db }
    }

    /// The whole profile of a local user; `M_NOT_FOUND` for unknown or deactivated users.
    pub fn get(&self, user_id: &UserId) -> Result<Map<String, Value>> {
        let not_found = || Error::not_found(format!("Profile of {user_id} was not found"));
        if user_id.server_name() != self.config.server_name {
            return Err(not_found());
        }
        match self.db.get_account(user_id)? {
            Some(account) if !account.deactivated => Ok(self.db.profile(user_id)?),
            _ => Err(not_found()),
        }
    }

    /// One field; `M_NOT_FOUND` when the user or the field does not exist.
    pub fn field(&self, user_id: &UserId, field: &str) -> Result<Value> {
        self.get(user_id)?
            .remove(field)
            .ok_or_else(|| Error::not_found(format!("{user_id} has no profile field {field}")))
    }

    /// Sets (`Some`) or removes (`None`) one field of the caller's own profile.
    pub fn set_field(&self, caller: &UserId, target: &UserId, field: &str, value: Option<Value>) -> Result<()> {
        if caller != target {
            return Err(Error::forbidden("You can only change your own profile"));
        }
        crate::account_state::ensure_not_suspended(&self.db, caller)?;
        if field.is_empty() || field.len() > MAX_FIELD_NAME_BYTES {
            return Err(Error::new(
                ErrorKind::KeyTooLarge,
                "Profile field names must be 1-255 bytes",
            ));
        }
        let mut profile = self.get(target)?;
        match value {
            Some(Value::Null) | None => {
                profile.remove(field);
            }
            Some(value) => {
                profile.insert(field.to_owned(), value);
            }
        }
        if serde_json::to_vec(&profile).map(|v| v.len()).unwrap_or(usize::MAX) > MAX_PROFILE_BYTES {
            return Err(Error::new(
                ErrorKind::ProfileTooLarge,
                "The profile would exceed 64 KiB",
            ));
        }
        let mut batch = WriteBatch::new();
        self.db.put_profile(&mut batch, target, &profile);
        Ok(self.db.write(batch)?)
    }
}
