//! OpenID tokens: short-lived proofs of identity a user hands to a third party (an integration
//! manager, a widget), which checks them with `/_matrix/federation/v1/openid/userinfo`.

use accord_storage::WriteBatch;
use ruma::OwnedUserId;
use serde::{Deserialize, Serialize};

use crate::{Db, Result, database::encode, tables::TOKENHASH_OPENIDSESSION};

/// Whom an OpenID token vouches for, and until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenIdSession {
    /// The user.
    pub user_id: OwnedUserId,
    /// Expiry, ms since the epoch.
    pub expires_at: u64,
}

impl Db {
    /// The session of an OpenID token, by the token's sha256.
    pub fn get_openid_session(&self, token_hash: &[u8]) -> Result<Option<OpenIdSession>> {
        self.get_json(TOKENHASH_OPENIDSESSION, token_hash)
    }

    /// Queues storing an OpenID token session.
    pub fn put_openid_session(&self, batch: &mut WriteBatch, token_hash: &[u8], session: &OpenIdSession) {
        batch.put(TOKENHASH_OPENIDSESSION, token_hash, encode(session));
    }

    /// Queues removing an OpenID token session.
    pub fn delete_openid_session(&self, batch: &mut WriteBatch, token_hash: &[u8]) {
        batch.delete(TOKENHASH_OPENIDSESSION, token_hash);
    }
}
