//! Access and refresh token sessions, keyed by the sha256 of the token so a leaked database
//! does not leak usable tokens.

use accord_storage::WriteBatch;
use ruma::{OwnedDeviceId, OwnedUserId};
use serde::{Deserialize, Serialize};

use crate::{
    Db, Result,
    database::encode,
    tables::{TOKENHASH_ACCESSSESSION, TOKENHASH_REFRESHSESSION},
};

/// Who an access token authenticates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessSession {
    /// The account.
    pub user_id: OwnedUserId,
    /// The device the token belongs to.
    pub device_id: OwnedDeviceId,
    /// Expiry in ms since the epoch; `None` for tokens that never expire.
    pub expires_at: Option<u64>,
    /// Hex sha256 of the refresh token this token's refresh replaced: deleted when this
    /// token is first used (until then a lost refresh answer can be retried).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retires_refresh_token_hash: Option<String>,
}

/// Who a refresh token belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshSession {
    /// The account.
    pub user_id: OwnedUserId,
    /// The device whose tokens it refreshes.
    pub device_id: OwnedDeviceId,
}

impl Db {
    /// The session of an access token, by the token's sha256.
    pub fn get_access_session(&self, token_hash: &[u8]) -> Result<Option<AccessSession>> {
        self.get_json(TOKENHASH_ACCESSSESSION, token_hash)
    }

    /// Queues storing an access token session.
    pub fn put_access_session(&self, batch: &mut WriteBatch, token_hash: &[u8], session: &AccessSession) {
        batch.put(TOKENHASH_ACCESSSESSION, token_hash, encode(session));
    }

    /// Queues removing an access token session.
    pub fn delete_access_session(&self, batch: &mut WriteBatch, token_hash: &[u8]) {
        batch.delete(TOKENHASH_ACCESSSESSION, token_hash);
    }

    /// The session of a refresh token, by the token's sha256.
    pub fn get_refresh_session(&self, token_hash: &[u8]) -> Result<Option<RefreshSession>> {
        self.get_json(TOKENHASH_REFRESHSESSION, token_hash)
    }

    /// Queues storing a refresh token session.
    pub fn put_refresh_session(&self, batch: &mut WriteBatch, token_hash: &[u8], session: &RefreshSession) {
        batch.put(TOKENHASH_REFRESHSESSION, token_hash, encode(session));
    }

    /// Queues removing a refresh token session.
    pub fn delete_refresh_session(&self, batch: &mut WriteBatch, token_hash: &[u8]) {
        batch.delete(TOKENHASH_REFRESHSESSION, token_hash);
    }
}
