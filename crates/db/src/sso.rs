//! Single sign-on through OpenID Connect providers: logins in flight, the single-use login
//! tokens they end in, and which account each provider's user is linked to.

use accord_storage::{
    WriteBatch,
    codec::{KeyBuilder, KeyReader},
};
use ruma::{OwnedUserId, UserId};
use serde::{Deserialize, Serialize};

use crate::{
    Db, Result,
    database::encode,
    tables::{IDPSUBJECT_USERID, LOGINTOKENHASH_LOGINTOKEN, SSOSTATE_ATTEMPT, USERID_IDPSUBJECT},
};

/// A login sent to a provider, waiting for the user to come back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SsoAttempt {
    /// The provider's id.
    pub provider: String,
    /// The nonce the ID token must carry.
    pub nonce: String,
    /// The PKCE verifier for the code exchange.
    pub pkce_verifier: String,
    /// Where the client asked to be sent back (`redirectUrl`).
    pub redirect_url: String,
    /// sha256 (hex) of the cookie given to the browser that started it, so a login started in
    /// one browser can't be finished in another (login CSRF).
    pub browser: String,
    /// When it started, ms since the epoch.
    pub created_ts: u64,
}

/// A single-use login token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginTokenRecord {
    /// Who it logs in.
    pub user_id: OwnedUserId,
    /// When it stops working, ms since the epoch.
    pub expires_ts: u64,
}

fn subject_key(provider: &str, subject: &str) -> Vec<u8> {
    KeyBuilder::new().str(provider).str(subject).build()
}

impl Db {
    /// A login in flight.
    pub fn sso_attempt(&self, state: &str) -> Result<Option<SsoAttempt>> {
        self.get_json(SSOSTATE_ATTEMPT, state.as_bytes())
    }

    /// Queues recording a login in flight.
    pub fn put_sso_attempt(&self, batch: &mut WriteBatch, state: &str, attempt: &SsoAttempt) {
        batch.put(SSOSTATE_ATTEMPT, state.as_bytes(), encode(attempt));
    }

    /// Queues forgetting a login in flight.
    pub fn delete_sso_attempt(&self, batch: &mut WriteBatch, state: &str) {
        batch.delete(SSOSTATE_ATTEMPT, state.as_bytes());
    }

    /// Every login in flight (to forget the abandoned ones).
    pub fn sso_attempts(&self) -> Result<Vec<(String, SsoAttempt)>> {
        Ok(self
            .scan_json::<SsoAttempt>(SSOSTATE_ATTEMPT, b"")?
            .into_iter()
            .filter_map(|(key, attempt)| Some((String::from_utf8(key).ok()?, attempt)))
            .collect())
    }

    /// A login token by its hash.
    pub fn login_token(&self, hash: &[u8]) -> Result<Option<LoginTokenRecord>> {
        self.get_json(LOGINTOKENHASH_LOGINTOKEN, hash)
    }

    /// Queues storing a login token under its hash.
    pub fn put_login_token(&self, batch: &mut WriteBatch, hash: &[u8], record: &LoginTokenRecord) {
        batch.put(LOGINTOKENHASH_LOGINTOKEN, hash.to_vec(), encode(record));
    }

    /// Queues deleting a login token (used or expired).
    pub fn delete_login_token(&self, batch: &mut WriteBatch, hash: &[u8]) {
        batch.delete(LOGINTOKENHASH_LOGINTOKEN, hash.to_vec());
    }

    /// Every login token with its hash (to forget the expired ones).
    pub fn login_tokens(&self) -> Result<Vec<(Vec<u8>, LoginTokenRecord)>> {
        self.scan_json(LOGINTOKENHASH_LOGINTOKEN, b"")
    }

    /// The account `provider`'s user `subject` is linked to.
    pub fn sso_user(&self, provider: &str, subject: &str) -> Result<Option<OwnedUserId>> {
        let Some(raw) = self.get_raw(IDPSUBJECT_USERID, &subject_key(provider, subject))? else {
            return Ok(None);
        };
        Ok(String::from_utf8(raw)
            .ok()
            .and_then(|text| OwnedUserId::try_from(text).ok()))
    }

    /// Queues linking `provider`'s user `subject` to `user_id`.
    pub fn put_sso_link(&self, batch: &mut WriteBatch, provider: &str, subject: &str, user_id: &UserId) {
        batch.put(
            IDPSUBJECT_USERID,
            subject_key(provider, subject),
            user_id.as_bytes().to_vec(),
        );
        let reverse = KeyBuilder::new()
            .str(user_id.as_str())
            .str(provider)
            .str(subject)
            .build();
        batch.put(USERID_IDPSUBJECT, reverse, Vec::new());
    }

    /// Whether any provider login is linked to `user_id`.
    pub fn has_sso_link(&self, user_id: &UserId) -> Result<bool> {
        let prefix = KeyBuilder::new().str(user_id.as_str()).prefix();
        Ok(!self.scan_keys(USERID_IDPSUBJECT, &prefix)?.is_empty())
    }

    /// `(provider, subject)` of every link of `user_id`.
    pub fn sso_links(&self, user_id: &UserId) -> Result<Vec<(String, String)>> {
        let prefix = KeyBuilder::new().str(user_id.as_str()).prefix();
        Ok(self
            .scan_keys(USERID_IDPSUBJECT, &prefix)?
            .into_iter()
            .filter_map(|key| {
                let mut reader = KeyReader::new(&key);
                reader.str().ok()?;
                Some((reader.str().ok()?.to_owned(), reader.str().ok()?.to_owned()))
            })
            .collect())
    }
}
