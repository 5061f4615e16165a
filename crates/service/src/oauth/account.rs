//! Sessions of the account management pages (`account_management_uri`): a person logs in
//! there (password, directory or identity provider) and gets a cookie good for an hour.
//! Only its hash is stored.

use accord_core::time::now_millis;
use accord_db::{AccountPageSession, WriteBatch};
use ruma::{OwnedUserId, UserId};

use super::OAuth;
use crate::{
    Result,
    tokens::{generate_secret, hash_token},
};

/// How long a login on the account pages lasts.
const ACCOUNT_SESSION_MS: u64 = 60 * 60 * 1000;
/// The account pages' cookie.
pub const ACCOUNT_COOKIE: &str = "accord_account_session";

impl OAuth {
    /// Starts an account page session for `user_id`; the cookie's value.
    pub fn start_account_session(&self, user_id: &UserId) -> Result<String> {
        let cookie = generate_secret();
        let session = AccountPageSession {
            user_id: user_id.to_owned(),
            expires_ts: now_millis().saturating_add(ACCOUNT_SESSION_MS),
        };
        let mut batch = WriteBatch::new();
        self.db
            .put_account_page_session(&mut batch, &hash_token(&cookie), &session);
        self.db.write(batch)?;
        Ok(cookie)
    }

    /// Who the cookie logs in on the account pages, while its session lasts and the account
    /// may still log in.
    pub fn account_session(&self, cookie: Option<&str>) -> Result<Option<OwnedUserId>> {
        let Some(cookie) = cookie else {
            return Ok(None);
        };
        let Some(session) = self.db.account_page_session(&hash_token(cookie))? else {
            return Ok(None);
        };
        if session.expires_ts <= now_millis() {
            return Ok(None);
        }
        let usable = self
            .db
            .get_account(&session.user_id)?
            .is_some_and(|account| crate::accounts::check_may_log_in(&account).is_ok());
        Ok(usable.then_some(session.user_id))
    }

    /// Ends an account page session.
    pub fn end_account_session(&self, cookie: &str) -> Result<()> {
        let mut batch = WriteBatch::new();
        self.db.delete_account_page_session(&mut batch, &hash_token(cookie));
        self.db.write(batch)?;
        Ok(())
    }
}
