//! Cross-signing keys of local users (master, self-signing, user-signing), and the signatures
//! users made with their user-signing key on other users' master keys, which only the signer
//! sees.

use accord_storage::{WriteBatch, codec::KeyBuilder};
use ruma::UserId;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{
    Db, Result,
    database::encode,
    tables::{SIGNER_TARGET_USERSIGNATURES, USERID_CROSSSIGNINGKEYS},
};

/// A local user's cross-signing keys, each the signed key object as uploaded (with signatures
/// added later through `/keys/signatures/upload`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrossSigningKeys {
    /// The master key.
    pub master: Option<Value>,
    /// The self-signing key (signs the user's own devices).
    pub self_signing: Option<Value>,
    /// The user-signing key (signs other users' master keys); shown to its owner only.
    pub user_signing: Option<Value>,
}

fn pair_key(signer: &UserId, target: &UserId) -> Vec<u8> {
    KeyBuilder::new().str(signer.as_str()).str(target.as_str()).build()
}

impl Db {
    /// A local user's cross-signing keys.
    pub fn get_cross_signing_keys(&self, user_id: &UserId) -> Result<Option<CrossSigningKeys>> {
        self.get_json(USERID_CROSSSIGNINGKEYS, user_id.as_bytes())
    }

    /// Queues storing a local user's cross-signing keys.
    pub fn put_cross_signing_keys(&self, batch: &mut WriteBatch, user_id: &UserId, keys: &CrossSigningKeys) {
        batch.put(USERID_CROSSSIGNINGKEYS, user_id.as_bytes(), encode(keys));
    }

    /// The signatures `signer` made on `target`'s master key (`{signer: {key_id: sig}}`).
    pub fn get_user_signatures(&self, signer: &UserId, target: &UserId) -> Result<Option<Value>> {
        self.get_json(SIGNER_TARGET_USERSIGNATURES, &pair_key(signer, target))
    }

    /// Queues storing the signatures `signer` made on `target`'s master key.
    pub fn put_user_signatures(&self, batch: &mut WriteBatch, signer: &UserId, target: &UserId, signatures: &Value) {
        batch.put(
            SIGNER_TARGET_USERSIGNATURES,
            pair_key(signer, target),
            encode(signatures),
        );
    }
}
