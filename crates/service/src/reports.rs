//! Reporting content (spec: "Reporting content"): users report events, rooms and users to the
//! server's admins, who read the reports through the admin API.

use accord_core::time::now_millis;
pub use accord_db::{Report, ReportKind};
use ruma::{EventId, RoomId, UserId};

use crate::{AuthedUser, Error, Result, Services};

/// Longest reason kept, in characters (Synapse's limit).
const MAX_REASON: usize = 1000;

/// The spec's range of an event report's `score`.
const SCORES: std::ops::RangeInclusive<i64> = -100..=0;

impl Services {
    /// `POST /rooms/{roomId}/report/{eventId}`: the event must be one the reporter can see in
    /// a room they are joined to; otherwise 404, whether or not it exists (the answer must not
    /// tell outsiders what a room holds).
    pub fn report_event(
        &self,
        user: &AuthedUser,
        room_id: &RoomId,
        event_id: &EventId,
        reason: Option<String>,
        score: Option<i64>,
    ) -> Result<u64> {
        let not_found = || Error::not_found(format!("Event {event_id} not found in {room_id}"));
        check_reason(reason.as_deref())?;
        if score.is_some_and(|score| !SCORES.contains(&score)) {
            return Err(Error::invalid_param("score must be between -100 and 0"));
        }
        let joined = self
            .db()
            .get_membership(&user.user_id, room_id)?
            .is_some_and(|m| m.membership == ruma::events::room::member::MembershipState::Join);
        let event = match joined {
            true => self.rooms.event(user, room_id, event_id).map_err(|_| not_found())?,
            false => return Err(not_found()),
        };
        let sender = event["sender"].as_str().and_then(|s| UserId::parse(s).ok());
        self.store_report(Report {
            kind: ReportKind::Event,
            reporter: user.user_id.clone(),
            room_id: Some(room_id.to_owned()),
            event_id: Some(event_id.to_owned()),
            user_id: sender,
            reason,
            score,
            received_ts: now_millis(),
        })
    }

    /// `POST /rooms/{roomId}/report`: any room this server knows (the reporter may have been
    /// invited, or seen it in the directory); 404 otherwise.
    pub fn report_room(&self, user: &AuthedUser, room_id: &RoomId, reason: String) -> Result<u64> {
        check_reason(Some(&reason))?;
        if !self.rooms.rooms().exists(room_id)? {
            return Err(Error::not_found(format!("Room {room_id} not found")));
        }
        self.store_report(Report {
            kind: ReportKind::Room,
            reporter: user.user_id.clone(),
            room_id: Some(room_id.to_owned()),
            event_id: None,
            user_id: None,
            reason: Some(reason),
            score: None,
            received_ts: now_millis(),
        })
    }

    /// `POST /users/{userId}/report`: stored for local users that exist. Others are answered
    /// the same (200), so the endpoint can't be used to find out which accounts exist (the
    /// spec allows it; Synapse does it).
    pub fn report_user(&self, user: &AuthedUser, target: &UserId, reason: String) -> Result<()> {
        check_reason(Some(&reason))?;
        let known = target.server_name() == self.config.server_name && self.db().get_account(target)?.is_some();
        if known {
            self.store_report(Report {
                kind: ReportKind::User,
                reporter: user.user_id.clone(),
                room_id: None,
                event_id: None,
                user_id: Some(target.to_owned()),
                reason: Some(reason),
                score: None,
                received_ts: now_millis(),
            })?;
        }
        Ok(())
    }

    /// Reports of `kind` for the admin API, newest first; and whether more follow.
    pub fn reports(&self, kind: ReportKind, before: Option<u64>, limit: usize) -> Result<(Vec<(u64, Report)>, bool)> {
        Ok(self.db().reports(kind, before, limit)?)
    }

    /// One report.
    pub fn report(&self, id: u64) -> Result<Option<Report>> {
        Ok(self.db().report(id)?)
    }

    /// Deletes a report (the admin dealt with it); returns whether it existed.
    pub fn delete_report(&self, id: u64) -> Result<bool> {
        Ok(self.db().delete_report(id)?)
    }

    fn store_report(&self, report: Report) -> Result<u64> {
        let id = self.db().put_report(&report)?;
        tracing::info!(id, kind = ?report.kind, reporter = %report.reporter, "report received");
        Ok(id)
    }
}

fn check_reason(reason: Option<&str>) -> Result<()> {
    if reason.is_some_and(|reason| reason.chars().count() > MAX_REASON) {
        return Err(Error::bad_json(format!(
            "reason is longer than {MAX_REASON} characters"
        )));
    }
    Ok(())
}
