//! The one-time registration token a server without administrators offers for its first one
//! (see `accord_service::first_admin`): which token it is, kept in `global`.

use serde::{Deserialize, Serialize};

use crate::{
    Db, Result, WriteBatch,
    database::{decode, encode},
    tables::{GLOBAL, USERID_ACCOUNT},
};

const FIRST_ADMIN_TOKEN: &[u8] = b"first_admin_token";

/// The offered token and when it was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirstAdminToken {
    /// The registration token (also stored as one, single use, with its expiry).
    pub token: String,
    /// When it was made and printed, ms.
    pub created_ts: u64,
}

impl Db {
    /// The first-admin token on offer, if any.
    pub fn first_admin_token(&self) -> Result<Option<FirstAdminToken>> {
        self.get_json(GLOBAL, FIRST_ADMIN_TOKEN)
    }

    /// Queues recording (or, with `None`, forgetting) the first-admin token.
    pub fn put_first_admin_token(&self, batch: &mut WriteBatch, token: Option<&FirstAdminToken>) {
        match token {
            Some(token) => batch.put(GLOBAL, FIRST_ADMIN_TOKEN, encode(token)),
            None => batch.delete(GLOBAL, FIRST_ADMIN_TOKEN),
        }
    }

    /// Whether any account (deactivated ones aside) is a server admin: one pass over accounts.
    pub fn has_active_admin(&self) -> Result<bool> {
        // Read lazily, stopping at the first admin: this runs at every start, and the first
        // admin is usually among the first accounts, however many there are.
        for item in self
            .engine()
            .iter_prefix(USERID_ACCOUNT, b"", accord_storage::Direction::Forward)?
        {
            let (_, value) = item?;
            let account: crate::UserAccount = decode(USERID_ACCOUNT, &value)?;
            if account.admin && !account.deactivated {
                return Ok(true);
            }
        }
        Ok(false)
    }
}
