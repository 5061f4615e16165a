//! The audit log: who did what, for auditors and data-protection officers. Records are only
//! ever appended, each under the next sequence number, and chained: a record's body names the
//! SHA-256 of the record before it, and its own hash is taken over the body's stored bytes
//! (no re-serialization, so verification never depends on how JSON is written). The chain's
//! head is kept apart, in `global`, in the same batch as the record.
//!
//! What this detects: a changed record (its hash no longer matches), a changed record with a
//! recomputed hash (the next record's `prev_hash` no longer matches), a removed record (a gap
//! in the sequence) and a removed tail (the head names a record that is gone). What it cannot
//! detect alone: someone with write access to the database rewriting the whole chain from the
//! changed record on, head included. Against that, an auditor keeps the head hash `accord
//! audit verify` prints (or an export) somewhere else and compares later.

use accord_storage::{Direction, WriteBatch};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{
    Db, Error, Result,
    tables::{GLOBAL, SEQ_AUDITRECORD},
};

const HEAD_KEY: &[u8] = b"audit_head";
const HASH_LEN: usize = 32;
/// The `prev_hash` of the first record.
const GENESIS: [u8; HASH_LEN] = [0; HASH_LEN];

/// Kinds of audit records, one name each, so filters and auditors can rely on them.
pub mod kinds {
    /// A login: a device got tokens (detail `device_id`, `method`).
    pub const LOGIN: &str = "login";
    /// A login refused: a wrong password or an unknown user (actor is who it claimed to be).
    pub const LOGIN_FAILED: &str = "login_failed";
    /// A device logged out or deleted (detail `device_ids`, `by`).
    pub const DEVICES_DELETED: &str = "devices_deleted";
    /// A device made by an admin, without tokens.
    pub const DEVICE_CREATED: &str = "device_created";
    /// Every device of a user logged out.
    pub const LOGOUT_ALL: &str = "logout_all";
    /// A password set, by its owner or an admin.
    pub const PASSWORD_CHANGED: &str = "password_changed";
    /// An account created.
    pub const ACCOUNT_CREATED: &str = "account_created";
    /// An account deactivated (detail `erase`).
    pub const ACCOUNT_DEACTIVATED: &str = "account_deactivated";
    /// An account's state changed: locked, suspended, admin flag, shadow ban, rate limit
    /// override (detail `change`, `value`).
    pub const ACCOUNT_STATE_CHANGED: &str = "account_state_changed";
    /// An admin got a token to act as a user.
    pub const ADMIN_LOGIN_AS: &str = "admin_login_as";
    /// A key backup version deleted.
    pub const KEY_BACKUP_DELETED: &str = "key_backup_deleted";
    /// A room blocked or unblocked (detail `blocked`).
    pub const ROOM_BLOCK_CHANGED: &str = "room_block_changed";
    /// A room shut down for this server (detail `block`, counts, aliases).
    pub const ROOM_SHUTDOWN: &str = "room_shutdown";
    /// A room removed from storage after its shutdown (detail counts).
    pub const ROOM_PURGED: &str = "room_purged";
    /// Forward extremities of a room dropped by an admin (detail `deleted`).
    pub const EXTREMITIES_DELETED: &str = "extremities_deleted";
    /// A user made room admin through the room's most powerful local member.
    pub const ROOM_ADMIN_GRANTED: &str = "room_admin_granted";
    /// A backup written (detail `to`).
    pub const BACKUP_CREATED: &str = "backup_created";
    /// Everything about a user exported (GDPR).
    pub const USER_DATA_EXPORTED: &str = "user_data_exported";
    /// A user's data erased (GDPR; detail counts).
    pub const USER_DATA_ERASED: &str = "user_data_erased";
    /// A room's expired history purged by retention (detail counts).
    pub const RETENTION_PURGED: &str = "retention_purged";
    /// A failing destination's backoff reset by an admin.
    pub const DESTINATION_RESET: &str = "destination_reset";
    /// A room's history purged up to a point by an admin.
    pub const HISTORY_PURGED: &str = "history_purged";
    /// A request to the admin API (detail `method`, `path`, `status`), answered or refused.
    pub const ADMIN_REQUEST: &str = "admin_request";
    /// A federation request refused by the allow/deny lists (actor is the origin).
    pub const FEDERATION_REFUSED: &str = "federation_refused";
    /// The configuration was reloaded (SIGHUP), or a reload was refused (detail `error`).
    pub const CONFIG_RELOADED: &str = "config_reloaded";
}

/// What happened, as the caller tells it; the store adds the sequence number, the time and
/// the chain.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// What kind of thing happened, e.g. `login`, `login_failed`, `admin_request`.
    pub kind: String,
    /// Who did it: a user id, a server name, `local-socket`, or nothing for the server itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// Whom or what it was done to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The client's address, when it came over HTTP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// The rest, by kind (a device id, a request path and status, a reason).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub detail: serde_json::Map<String, serde_json::Value>,
}

impl AuditEvent {
    /// An event of `kind` with nothing else yet.
    pub fn new(kind: &str) -> Self {
        Self {
            kind: kind.to_owned(),
            ..Self::default()
        }
    }

    /// Sets who did it.
    #[must_use]
    pub fn actor(mut self, actor: impl ToString) -> Self {
        self.actor = Some(actor.to_string());
        self
    }

    /// Sets whom it was done to.
    #[must_use]
    pub fn target(mut self, target: impl ToString) -> Self {
        self.target = Some(target.to_string());
        self
    }

    /// Sets the client's address.
    #[must_use]
    pub fn ip(mut self, ip: Option<std::net::IpAddr>) -> Self {
        self.ip = ip.map(|ip| ip.to_string());
        self
    }

    /// Adds one detail.
    #[must_use]
    pub fn detail(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.detail.insert(key.to_owned(), value.into());
        self
    }
}

/// A record's body as stored: the event, where it sits in the chain, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditBody {
    /// Its place in the log, from 1.
    pub seq: u64,
    /// When it was written, ms since the epoch.
    pub ts: u64,
    /// The hash of the record before, hex (64 zeros for the first).
    pub prev_hash: String,
    /// What happened.
    #[serde(flatten)]
    pub event: AuditEvent,
}

/// One record as read back: its body and its hash (hex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditRecord {
    /// The body.
    #[serde(flatten)]
    pub body: AuditBody,
    /// SHA-256 of the body's stored bytes, hex.
    pub hash: String,
}

/// The outcome of checking the whole chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditVerification {
    /// Records checked.
    pub records: u64,
    /// The head's sequence number and hash (hex), when there are records.
    pub head: Option<(u64, String)>,
    /// Every problem found, one line each, naming the record; empty when the chain holds.
    pub problems: Vec<String>,
}

/// Which records a listing wants; every set field must match.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only this kind.
    pub kind: Option<String>,
    /// Only records by this actor.
    pub actor: Option<String>,
    /// Only records about this target.
    pub target: Option<String>,
    /// Only records written at or after this time (ms).
    pub since_ts: Option<u64>,
    /// Only records written before this time (ms).
    pub until_ts: Option<u64>,
}

impl AuditFilter {
    fn matches(&self, body: &AuditBody) -> bool {
        self.kind.as_ref().is_none_or(|kind| *kind == body.event.kind)
            && self
                .actor
                .as_ref()
                .is_none_or(|actor| body.event.actor.as_ref() == Some(actor))
            && self
                .target
                .as_ref()
                .is_none_or(|target| body.event.target.as_ref() == Some(target))
            && self.since_ts.is_none_or(|since| body.ts >= since)
            && self.until_ts.is_none_or(|until| body.ts < until)
    }
}

fn corrupt(reason: String) -> Error {
    Error::Corrupt {
        table: SEQ_AUDITRECORD,
        reason,
    }
}

fn split_record(seq: u64, value: &[u8]) -> Result<([u8; HASH_LEN], &[u8])> {
    if value.len() < HASH_LEN {
        return Err(corrupt(format!("audit record {seq} is shorter than its hash")));
    }
    let (hash, body) = value.split_at(HASH_LEN);
    let mut stored = [0; HASH_LEN];
    stored.copy_from_slice(hash);
    Ok((stored, body))
}

fn decode_seq(key: &[u8]) -> Result<u64> {
    <[u8; 8]>::try_from(key)
        .map(u64::from_be_bytes)
        .map_err(|_| corrupt("an audit sequence number is not 8 bytes".to_owned()))
}

impl Db {
    /// The chain's head as stored: sequence number and hash, or nothing before the first record.
    fn audit_head(&self) -> Result<Option<(u64, [u8; HASH_LEN])>> {
        let Some(bytes) = self.get_raw(GLOBAL, HEAD_KEY)? else {
            return Ok(None);
        };
        if bytes.len() != 8 + HASH_LEN {
            return Err(corrupt("the audit head is not 40 bytes".to_owned()));
        }
        let (seq, hash) = bytes.split_at(8);
        let mut head = [0; HASH_LEN];
        head.copy_from_slice(hash);
        Ok(Some((decode_seq(seq)?, head)))
    }

    /// Commits `batch` together with one audit record of `event`, so the action and its record
    /// are both durable or both absent. Appends are serialized (the chain has one head).
    pub fn write_audited(&self, mut batch: WriteBatch, event: AuditEvent) -> Result<()> {
        let _chain = self.audit_lock().lock();
        let (seq, prev) = match self.audit_head()? {
            Some((seq, hash)) => (seq + 1, hash),
            None => (1, GENESIS),
        };
        let body = AuditBody {
            seq,
            ts: accord_core::time::now_millis(),
            prev_hash: hex::encode(prev),
            event,
        };
        let body = serde_json::to_vec(&body).map_err(|err| corrupt(format!("audit body: {err}")))?;
        let hash: [u8; HASH_LEN] = Sha256::digest(&body).into();
        let mut value = Vec::with_capacity(HASH_LEN + body.len());
        value.extend_from_slice(&hash);
        value.extend_from_slice(&body);
        batch.put(SEQ_AUDITRECORD, seq.to_be_bytes(), value);
        let mut head = Vec::with_capacity(8 + HASH_LEN);
        head.extend_from_slice(&seq.to_be_bytes());
        head.extend_from_slice(&hash);
        batch.put(GLOBAL, HEAD_KEY, head);
        self.write(batch)
    }

    /// Appends one audit record on its own.
    pub fn audit(&self, event: AuditEvent) -> Result<()> {
        self.write_audited(WriteBatch::new(), event)
    }

    /// Records matching `filter`, from sequence number `from` on (forward) or back (backward),
    /// at most `limit`; and the sequence number to continue from, if more may follow.
    pub fn audit_records(
        &self,
        filter: &AuditFilter,
        from: Option<u64>,
        direction: Direction,
        limit: usize,
    ) -> Result<(Vec<AuditRecord>, Option<u64>)> {
        let start = from.map(u64::to_be_bytes);
        let mut found = Vec::new();
        for item in self
            .engine()
            .iter_from(SEQ_AUDITRECORD, start.as_ref().map(<[u8; 8]>::as_slice), direction)?
        {
            let (key, value) = item?;
            let seq = decode_seq(&key)?;
            if found.len() == limit {
                return Ok((found, Some(seq)));
            }
            let (hash, body) = split_record(seq, &value)?;
            let body: AuditBody =
                serde_json::from_slice(body).map_err(|err| corrupt(format!("audit record {seq}: {err}")))?;
            if filter.matches(&body) {
                found.push(AuditRecord {
                    body,
                    hash: hex::encode(hash),
                });
            }
        }
        Ok((found, None))
    }

    /// Checks the whole chain: every hash, every link, no gaps, and the head. Reads the table
    /// once, in order, so it runs on a live server too.
    pub fn verify_audit_log(&self) -> Result<AuditVerification> {
        let mut problems = Vec::new();
        let mut expected_seq = 1;
        let mut prev = GENESIS;
        let mut last: Option<(u64, [u8; HASH_LEN])> = None;
        let head = self.audit_head()?;
        for item in self.engine().iter_from(SEQ_AUDITRECORD, None, Direction::Forward)? {
            let (key, value) = item?;
            let seq = decode_seq(&key)?;
            if seq != expected_seq {
                problems.push(format!(
                    "records {expected_seq} to {} are missing (removed)",
                    seq.saturating_sub(1)
                ));
            }
            let (stored, body_bytes) = split_record(seq, &value)?;
            let actual: [u8; HASH_LEN] = Sha256::digest(body_bytes).into();
            if actual != stored {
                problems.push(format!(
                    "record {seq} was changed: its hash no longer matches its content"
                ));
            }
            match serde_json::from_slice::<AuditBody>(body_bytes) {
                Err(err) => problems.push(format!("record {seq} is not a readable record: {err}")),
                Ok(body) => {
                    if body.seq != seq {
                        problems.push(format!("record {seq} claims to be record {}", body.seq));
                    }
                    if seq == expected_seq && body.prev_hash != hex::encode(prev) {
                        problems.push(format!(
                            "record {seq} does not follow record {}: the chain was broken there",
                            seq.saturating_sub(1)
                        ));
                    }
                }
            }
            prev = stored;
            expected_seq = seq + 1;
            last = Some((seq, stored));
        }
        match (head, last) {
            (Some((head_seq, head_hash)), Some((last_seq, last_hash))) => {
                if head_seq > last_seq {
                    problems.push(format!(
                        "records {} to {head_seq} are missing from the end (removed)",
                        last_seq + 1
                    ));
                } else if head_seq < last_seq {
                    problems.push(format!("records after {head_seq} were added outside the log"));
                } else if head_hash != last_hash {
                    problems.push(format!("record {last_seq} does not match the head of the chain"));
                }
            }
            (Some((head_seq, _)), None) => problems.push(format!("all {head_seq} records are missing (removed)")),
            (None, Some(_)) => problems.push("records exist but the chain has no head".to_owned()),
            (None, None) => {}
        }
        Ok(AuditVerification {
            records: expected_seq - 1,
            head: last.map(|(seq, hash)| (seq, hex::encode(hash))),
            problems,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use accord_storage::KvEngine;
    use accord_storage_rocksdb::RocksEngine;

    use super::*;
    use crate::tables;

    fn open(dir: &std::path::Path) -> (Arc<RocksEngine>, Db) {
        let engine = Arc::new(RocksEngine::open(dir, tables::ALL, tables::DROPPED).expect("open"));
        let db = Db::open(engine.clone()).expect("db");
        (engine, db)
    }

    fn log_five(db: &Db) {
        for n in 0..5 {
            db.audit(
                AuditEvent::new("login")
                    .actor(format!("@u{n}:x"))
                    .detail("device_id", "D"),
            )
            .expect("append");
        }
    }

    fn problems(db: &Db) -> Vec<String> {
        db.verify_audit_log().expect("verify").problems
    }

    #[test]
    fn an_untouched_chain_verifies_and_lists_with_filters() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (_, db) = open(dir.path());
        assert_eq!(db.verify_audit_log().expect("verify").records, 0);
        log_five(&db);
        db.audit(AuditEvent::new("logout").actor("@u1:x")).expect("append");
        let checked = db.verify_audit_log().expect("verify");
        assert_eq!((checked.records, checked.problems.len()), (6, 0));
        assert_eq!(checked.head.map(|(seq, _)| seq), Some(6));
        let filter = AuditFilter {
            actor: Some("@u1:x".to_owned()),
            ..AuditFilter::default()
        };
        let (found, next) = db.audit_records(&filter, None, Direction::Forward, 10).expect("list");
        let kinds: Vec<_> = found.iter().map(|record| record.body.event.kind.as_str()).collect();
        assert_eq!(kinds, ["login", "logout"]);
        assert_eq!(next, None);
        let (page, next) = db
            .audit_records(&AuditFilter::default(), None, Direction::Backward, 2)
            .expect("list");
        assert_eq!(page.iter().map(|record| record.body.seq).collect::<Vec<_>>(), [6, 5]);
        assert_eq!(next, Some(4));
        assert_eq!(
            page[1].body.prev_hash,
            db.audit_records(&AuditFilter::default(), Some(4), Direction::Forward, 1)
                .expect("list")
                .0[0]
                .hash
        );
    }

    #[test]
    fn a_changed_record_is_found() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (engine, db) = open(dir.path());
        log_five(&db);
        let key = 3u64.to_be_bytes();
        let mut value = engine.get(SEQ_AUDITRECORD, &key).expect("get").expect("record 3");
        let at = value.len() - 10;
        value[at] ^= 0x01;
        let mut batch = WriteBatch::new();
        batch.put(SEQ_AUDITRECORD, key, value.clone());
        engine.write(batch).expect("tamper");
        assert_eq!(
            problems(&db),
            ["record 3 was changed: its hash no longer matches its content"]
        );

        // The same change with the hash recomputed breaks the link to record 4 instead.
        let body = &value[HASH_LEN..];
        let mut rehashed = Sha256::digest(body).to_vec();
        rehashed.extend_from_slice(body);
        let mut batch = WriteBatch::new();
        batch.put(SEQ_AUDITRECORD, key, rehashed);
        engine.write(batch).expect("tamper");
        assert_eq!(
            problems(&db),
            ["record 4 does not follow record 3: the chain was broken there"]
        );
    }

    #[test]
    fn removed_records_are_found_in_the_middle_and_at_the_end() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (engine, db) = open(dir.path());
        log_five(&db);
        let mut batch = WriteBatch::new();
        batch.delete(SEQ_AUDITRECORD, 2u64.to_be_bytes());
        batch.delete(SEQ_AUDITRECORD, 5u64.to_be_bytes());
        engine.write(batch).expect("remove");
        assert_eq!(
            problems(&db),
            [
                "records 2 to 2 are missing (removed)",
                "records 5 to 5 are missing from the end (removed)"
            ]
        );
    }

    #[test]
    fn the_chain_continues_across_a_restart() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let (_, db) = open(dir.path());
            log_five(&db);
        }
        let (_, db) = open(dir.path());
        db.audit(AuditEvent::new("config_reloaded")).expect("append");
        let checked = db.verify_audit_log().expect("verify");
        assert_eq!((checked.records, checked.problems.len()), (6, 0));
    }
}
