//! Audit records of inbound federation refused by the allow/deny lists. A refused server
//! tends to retry: one record per server per ten minutes says the same to an auditor without
//! letting a denied server fill the log.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use ruma::{OwnedServerName, ServerName};

/// How long one refused server's later refusals go unrecorded.
const QUIET_PERIOD: Duration = Duration::from_secs(600);
/// Past this many remembered servers the memory of quiet periods is cleared.
const MAX_REMEMBERED: usize = 10_000;

/// Records refusals in the audit log, at most one per server per quiet period.
#[derive(Clone, Debug)]
pub(crate) struct RefusalAudit {
    db: accord_db::Db,
    last: Arc<parking_lot::Mutex<HashMap<OwnedServerName, Instant>>>,
}

impl RefusalAudit {
    pub(crate) fn new(db: accord_db::Db) -> Self {
        Self {
            db,
            last: Arc::default(),
        }
    }

    /// Records that `server` was refused, unless it was within the quiet period.
    pub(crate) fn refused(&self, server: &ServerName, what: &str) {
        let now = Instant::now();
        {
            let mut last = self.last.lock();
            if last
                .get(server)
                .is_some_and(|at| now.duration_since(*at) < QUIET_PERIOD)
            {
                return;
            }
            if last.len() >= MAX_REMEMBERED {
                last.clear();
            }
            last.insert(server.to_owned(), now);
        }
        let event = accord_db::AuditEvent::new(accord_db::audit_kinds::FEDERATION_REFUSED)
            .actor(server)
            .detail("what", what)
            .detail("reason", "not allowed by federation.allowed_servers / denied_servers");
        if let Err(err) = self.db.audit(event) {
            tracing::error!(%err, "could not append to the audit log");
        }
    }
}
