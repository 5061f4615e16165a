//! What server admins may do to accounts and rooms, behind Synapse's admin API (the HTTP
//! shapes are in `accord_api::admin`). Every call here takes the acting admin, so the audit
//! record of an action names who did it, in the action's own batch.

mod destinations;
mod statistics;
mod user_list;
mod user_sessions;
mod users;

use std::sync::Arc;

use accord_core::Config;
use accord_db::Db;
use ruma::{ServerName, UserId};

use crate::{Error, Result, sessions::Sessions};

pub use destinations::DestinationStatus;
pub use statistics::{RoomSize, UserMediaUsage};
pub use user_list::{UserListQuery, UserOrder};
pub use user_sessions::WhoisSession;
pub use users::{AdminUser, UserChanges};

/// Admin operations on accounts.
#[derive(Clone, Debug)]
pub struct Admin {
    config: Arc<Config>,
    db: Db,
    sessions: Sessions,
}

impl Admin {
    pub(crate) fn new(config: Arc<Config>, db: Db, sessions: Sessions) -> Self {
        Self { config, db, sessions }
    }

    fn server_name(&self) -> &ServerName {
        &self.config.server_name
    }

    /// Refuses users of other servers, as Synapse does (400): their accounts are not ours.
    fn ensure_local(&self, user_id: &UserId) -> Result<()> {
        if user_id.server_name() == self.server_name() {
            Ok(())
        } else {
            Err(Error::invalid_param(format!("{user_id} is not a user of this server")))
        }
    }

    fn account(&self, user_id: &UserId) -> Result<accord_db::UserAccount> {
        self.ensure_local(user_id)?;
        self.db
            .get_account(user_id)?
            .ok_or_else(|| Error::not_found(format!("User {user_id} not found")))
    }
}
