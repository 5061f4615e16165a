//! User-interactive authentication sessions: which stages a client completed so far.

use accord_storage::WriteBatch;
use serde::{Deserialize, Serialize};

use crate::{Db, Result, database::encode, tables::UIAASESSIONID_SESSION};

/// Progress of one UIA session.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UiaaSessionRecord {
    /// Stages completed so far (`m.login.dummy`, ...).
    pub completed: Vec<String>,
    /// What the session was started for (endpoint + anything it must not change midway).
    pub bound_to: String,
    /// Creation time, ms since the epoch; old sessions expire.
    pub created_ts: u64,
    /// The registration token this session used (`m.login.registration_token`), which must
    /// not change midway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_token: Option<String>,
}

impl Db {
    /// A UIA session's progress.
    pub fn get_uiaa_session(&self, session_id: &str) -> Result<Option<UiaaSessionRecord>> {
        self.get_json(UIAASESSIONID_SESSION, session_id.as_bytes())
    }

    /// Queues storing a UIA session.
    pub fn put_uiaa_session(&self, batch: &mut WriteBatch, session_id: &str, session: &UiaaSessionRecord) {
        batch.put(UIAASESSIONID_SESSION, session_id.as_bytes(), encode(session));
    }

    /// Queues removing a UIA session (it completed, or expired).
    pub fn delete_uiaa_session(&self, batch: &mut WriteBatch, session_id: &str) {
        batch.delete(UIAASESSIONID_SESSION, session_id.as_bytes());
    }
}
