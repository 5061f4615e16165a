//! Reports of events, rooms and users that users sent for the server's admins (spec:
//! "Reporting content"), kept in arrival order under a numeric id.

use accord_storage::{Direction, WriteBatch};
use ruma::{OwnedEventId, OwnedRoomId, OwnedUserId};
use serde::{Deserialize, Serialize};

use crate::{
    Db, Result,
    database::{decode, encode},
    tables::ID_REPORT,
};

/// What a report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportKind {
    /// An event in a room.
    Event,
    /// A room as a whole.
    Room,
    /// A user.
    User,
}

/// One report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// What it is about.
    pub kind: ReportKind,
    /// Who sent it.
    pub reporter: OwnedUserId,
    /// The room (event and room reports).
    pub room_id: Option<OwnedRoomId>,
    /// The event (event reports).
    pub event_id: Option<OwnedEventId>,
    /// The user (user reports; for event reports, the event's sender).
    pub user_id: Option<OwnedUserId>,
    /// Why, in the reporter's words.
    pub reason: Option<String>,
    /// The reporter's score of the content, -100 (most offensive) to 0, when given.
    pub score: Option<i64>,
    /// When it arrived, ms since the epoch.
    pub received_ts: u64,
}

impl Db {
    /// Stores a report; returns its id (a stream position, so ids only grow).
    pub fn put_report(&self, report: &Report) -> Result<u64> {
        self.write_at_next_count(|batch: &mut WriteBatch, id| batch.put(ID_REPORT, id.to_be_bytes(), encode(report)))
    }

    /// One report.
    pub fn report(&self, id: u64) -> Result<Option<Report>> {
        self.get_json(ID_REPORT, &id.to_be_bytes())
    }

    /// Reports of `kind`, newest first, from before id `before` (all without it), at most
    /// `limit`; and whether more follow.
    pub fn reports(&self, kind: ReportKind, before: Option<u64>, limit: usize) -> Result<(Vec<(u64, Report)>, bool)> {
        let start = before.map(|id| id.saturating_sub(1).to_be_bytes());
        let from = start.as_ref().map(|key| key.as_slice()).or(Some(&[0xFF; 8][..]));
        let mut found = Vec::new();
        for item in self.engine().iter_from(ID_REPORT, from, Direction::Backward)? {
            let (key, value) = item?;
            let id = <[u8; 8]>::try_from(key.as_slice())
                .map(u64::from_be_bytes)
                .map_err(|_| crate::Error::Corrupt {
                    table: ID_REPORT,
                    reason: "a report id is not 8 bytes".to_owned(),
                })?;
            if before.is_some_and(|before| id >= before) {
                continue;
            }
            let report: Report = decode(ID_REPORT, &value)?;
            if report.kind != kind {
                continue;
            }
            if found.len() == limit {
                return Ok((found, true));
            }
            found.push((id, report));
        }
        Ok((found, false))
    }

    /// Deletes a report; returns whether it existed.
    pub fn delete_report(&self, id: u64) -> Result<bool> {
        if self.report(id)?.is_none() {
            return Ok(false);
        }
        let mut batch = WriteBatch::new();
        batch.delete(ID_REPORT, id.to_be_bytes());
        self.write(batch)?;
        Ok(true)
    }
}
