//! Registration tokens made through the admin API, and the registrations that used them.
//!
//! Uses are rows, not counters: a registration holds a pending use while its UIA session
//! lives and a completed one once its account exists. Counting rows keeps the numbers right
//! after a crash, and an abandoned registration gives its use back when its session expires.

use accord_storage::{
    WriteBatch,
    codec::{KeyBuilder, KeyReader},
};
use serde::{Deserialize, Serialize};

use crate::{
    Db, Result,
    database::encode,
    tables::{TOKEN_REGISTRATIONTOKEN, TOKEN_SESSION_USE},
};

/// One token's limits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrationToken {
    /// How many accounts it may create; `None` for no limit.
    pub uses_allowed: Option<u64>,
    /// When it stops working, ms since the epoch; `None` for never.
    pub expiry_time: Option<u64>,
}

/// One registration's use of a token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenUse {
    /// Whether the account was created (otherwise the registration is in progress).
    pub completed: bool,
}

fn use_key(token: &str, session: &str) -> Vec<u8> {
    KeyBuilder::new().str(token).str(session).build()
}

impl Db {
    /// A token's limits, if it exists.
    pub fn registration_token(&self, token: &str) -> Result<Option<RegistrationToken>> {
        self.get_json(TOKEN_REGISTRATIONTOKEN, token.as_bytes())
    }

    /// Every token with its limits, in byte order.
    pub fn registration_tokens(&self) -> Result<Vec<(String, RegistrationToken)>> {
        Ok(self
            .scan_json::<RegistrationToken>(TOKEN_REGISTRATIONTOKEN, b"")?
            .into_iter()
            .filter_map(|(key, token)| Some((String::from_utf8(key).ok()?, token)))
            .collect())
    }

    /// Queues creating or replacing a token.
    pub fn put_registration_token(&self, batch: &mut WriteBatch, token: &str, limits: &RegistrationToken) {
        batch.put(TOKEN_REGISTRATIONTOKEN, token.as_bytes(), encode(limits));
    }

    /// Queues deleting a token and the record of its uses.
    pub fn delete_registration_token(&self, batch: &mut WriteBatch, token: &str) -> Result<()> {
        batch.delete(TOKEN_REGISTRATIONTOKEN, token.as_bytes());
        for key in self.scan_keys(TOKEN_SESSION_USE, &KeyBuilder::new().str(token).prefix())? {
            batch.delete(TOKEN_SESSION_USE, key);
        }
        Ok(())
    }

    /// The registrations (by UIA session id) that used `token`.
    pub fn registration_token_uses(&self, token: &str) -> Result<Vec<(String, TokenUse)>> {
        Ok(self
            .scan_json::<TokenUse>(TOKEN_SESSION_USE, &KeyBuilder::new().str(token).prefix())?
            .into_iter()
            .filter_map(|(key, token_use)| {
                let mut reader = KeyReader::new(&key);
                reader.str().ok()?;
                Some((reader.str().ok()?.to_owned(), token_use))
            })
            .collect())
    }

    /// Queues recording `session`'s use of `token`.
    pub fn put_registration_token_use(&self, batch: &mut WriteBatch, token: &str, session: &str, token_use: TokenUse) {
        batch.put(TOKEN_SESSION_USE, use_key(token, session), encode(&token_use));
    }
}
