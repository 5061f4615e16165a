//! The persisted cache of other servers' signing keys: their own signed answers, kept until
//! they expire, so a restart does not refetch every key.

use accord_storage::WriteBatch;
use ruma::{CanonicalJsonObject, ServerName};

use crate::{Db, Result, database::encode, tables::SERVERNAME_SERVERKEYS};

impl Db {
    /// A server's cached key answer.
    pub fn get_server_keys(&self, server: &ServerName) -> Result<Option<CanonicalJsonObject>> {
        self.get_json(SERVERNAME_SERVERKEYS, server.as_bytes())
    }

    /// Stores a server's key answer.
    pub fn put_server_keys(&self, server: &ServerName, answer: &CanonicalJsonObject) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.put(SERVERNAME_SERVERKEYS, server.as_bytes(), encode(answer));
        self.write(batch)
    }
}
