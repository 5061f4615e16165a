//! The audit log as the rest of the server uses it: security events and admin actions are
//! recorded here (see `accord_db::audit` for the hash chain), listed for admins and checked
//! by `accord audit verify`.
//!
//! An action that changes the database records its entry in the same batch
//! (`Db::write_audited`); events that change nothing else (a failed login, a refused request)
//! are appended alone through [`Audit::record`].

pub use accord_db::{AuditEvent, AuditFilter, AuditRecord, AuditVerification};
use accord_db::{Db, Direction};

use crate::Result;

pub use accord_db::audit_kinds as kinds;

/// How a login was proven and where it came from, for its audit record.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LoginRecord {
    pub(crate) method: &'static str,
    pub(crate) ip: Option<std::net::IpAddr>,
}

impl LoginRecord {
    pub(crate) fn new(method: &'static str, ip: Option<std::net::IpAddr>) -> Self {
        Self { method, ip }
    }
}

/// Appends to and reads the audit log.
#[derive(Clone, Debug)]
pub struct Audit {
    db: Db,
}

impl Audit {
    pub(crate) fn new(db: Db) -> Self {
        Self { db }
    }

    /// Appends an event that changes nothing else. A failure is logged, not returned: the
    /// request it describes has its own answer, and a write failure stops the server's writes
    /// anyway (see `Db::storage_failed`).
    pub fn record(&self, event: AuditEvent) {
        let kind = event.kind.clone();
        if let Err(err) = self.db.audit(event) {
            tracing::error!(%err, kind, "could not append to the audit log");
        }
    }

    /// Records matching `filter` from `from`, at most `limit`, and where the next page starts.
    pub fn list(
        &self,
        filter: &AuditFilter,
        from: Option<u64>,
        direction: Direction,
        limit: usize,
    ) -> Result<(Vec<AuditRecord>, Option<u64>)> {
        Ok(self.db.audit_records(filter, from, direction, limit)?)
    }

    /// Checks the whole chain.
    pub fn verify(&self) -> Result<AuditVerification> {
        Ok(self.db.verify_audit_log()?)
    }
}
