//! Erasure of a person's data (GDPR article 17): deactivation with `erase: true`.
//!
//! 1. Every message-like event the user sent in a room they are still in is redacted by them,
//!    so the other servers in the room (partners) drop the content too.
//! 2. They leave every room, after their profile is emptied (the leave carries no name).
//! 3. Every event they ever sent, state events included (their member events hold their
//!    name and avatar), is pruned here to its redacted form: the content leaves storage, the
//!    event stays in the room's history and still verifies.
//! 4. Their devices and tokens go, then every row keyed by them in every table (profile,
//!    account data, keys, key backups, push rules, pushers, presence, notifications, ...),
//!    their uploads, and their events' words from the search index.
//! 5. The account stays, deactivated and marked erased, so the id is never reused; the
//!    storage files are compacted so the bytes of what was deleted leave the disk.
//!
//! Events in rooms the user had already left can't be redacted by them over federation; they
//! are pruned here only. The report says how many of each.

use accord_db::rooms::ShortEventId;
use ruma::{OwnedEventId, OwnedRoomId, UserId, events::room::member::MembershipState};
use serde::Serialize;

use crate::{Error, Result, Services, audit::AuditEvent, sessions::device_change};

/// What an erasure did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ErasureReport {
    /// Redactions sent (they reach the other servers in the rooms).
    pub redactions_sent: usize,
    /// Redactions that could not be sent (logged); those events are still pruned here.
    pub redactions_failed: usize,
    /// Events pruned in storage.
    pub events_pruned: usize,
    /// Rooms left.
    pub rooms_left: usize,
    /// Uploads deleted.
    pub media_deleted: usize,
    /// Rows deleted from the user's tables.
    pub rows_deleted: usize,
}

/// One event the user sent.
struct Sent {
    short: ShortEventId,
    event_id: OwnedEventId,
    room_id: OwnedRoomId,
    /// Message-like (not state, not itself a redaction): what a redaction is sent for.
    redactable: bool,
}

impl Services {
    fn events_of(&self, user_id: &UserId) -> Result<Vec<Sent>> {
        let db = self.db();
        let mut found = Vec::new();
        for short in db.events_sent_by(user_id)? {
            let meta = db.event_meta(short)?;
            let Some(pdu) = self.rooms.rooms().pdu(short)? else {
                continue;
            };
            let is_redaction = pdu.kind == ruma::events::TimelineEventType::RoomRedaction;
            found.push(Sent {
                short,
                event_id: meta.event_id,
                room_id: meta.room_id,
                redactable: pdu.state_key.is_none() && !is_redaction && !meta.rejected,
            });
        }
        Ok(found)
    }

    /// Erases local `user_id`'s data for `admin` (or for the user themself, deactivating with
    /// `erase`). See the module documentation for what goes.
    pub async fn erase_user(&self, actor: &UserId, user_id: &UserId) -> Result<ErasureReport> {
        let db = self.db().clone();
        if user_id.server_name() != self.config.server_name {
            return Err(Error::invalid_param(format!("{user_id} is not a user of this server")));
        }
        let mut account = db
            .get_account(user_id)?
            .ok_or_else(|| Error::not_found(format!("User {user_id} not found")))?;
        let mut report = ErasureReport::default();
        tracing::warn!(actor = %actor, user = %user_id, "erasing a user's data");

        // 1. Redactions, sent by the user, in the rooms they are still in.
        let sent = self.events_of(user_id)?;
        let memberships = db.rooms_of_user(user_id)?;
        let joined: std::collections::HashSet<&OwnedRoomId> = memberships
            .iter()
            .filter(|(_, record)| record.membership == MembershipState::Join)
            .map(|(room, _)| room)
            .collect();
        for event in sent
            .iter()
            .filter(|event| event.redactable && joined.contains(&event.room_id))
        {
            match self
                .rooms
                .redact_for_erasure(user_id, &event.room_id, &event.event_id)
                .await
            {
                Ok(()) => report.redactions_sent += 1,
                Err(err) => {
                    tracing::warn!(%err, event = %event.event_id, "erasure: redaction not sent; pruned here only");
                    report.redactions_failed += 1;
                }
            }
        }

        // 2. The profile goes, then the user leaves every room.
        let mut batch = accord_db::WriteBatch::new();
        db.put_profile(&mut batch, user_id, &serde_json::Map::new());
        db.write(batch)?;
        for (room_id, record) in &memberships {
            if matches!(
                record.membership,
                MembershipState::Join | MembershipState::Invite | MembershipState::Knock
            ) {
                match self.rooms.leave_for_erasure(user_id, room_id).await {
                    Ok(()) => report.rooms_left += 1,
                    Err(err) => tracing::warn!(%err, room = %room_id, "erasure: could not leave"),
                }
            }
        }

        // 3. Every event they sent, pruned (the leaves carry nothing to prune).
        let shorts: Vec<ShortEventId> = sent.iter().map(|event| event.short).collect();
        report.events_pruned = self.rooms.rooms().prune_events(&shorts)?;

        // 4. Devices and tokens, every row of theirs, uploads, search words.
        let mut batch = accord_db::WriteBatch::new();
        let devices = self.sessions.delete_all_devices_except(&mut batch, user_id, None)?;
        db.write(batch)?;
        if !devices.is_empty() {
            db.record_local_device_change(&device_change(user_id, devices))?;
        }
        report.media_deleted = self.media.delete_user_media(user_id).await?.len();
        report.rows_deleted = db.delete_user_rows(user_id)?;
        let event_ids: Vec<OwnedEventId> = sent.into_iter().map(|event| event.event_id).collect();

        // 5. The account stays, erased; the files are rewritten without what was deleted.
        account.deactivated = true;
        account.erased = true;
        account.password_hash = None;
        let mut batch = accord_db::WriteBatch::new();
        db.put_account(&mut batch, user_id, &account);
        let event = AuditEvent::new(crate::audit::kinds::USER_DATA_ERASED)
            .actor(actor)
            .target(user_id)
            .detail("redactions_sent", report.redactions_sent)
            .detail("events_pruned", report.events_pruned)
            .detail("media_deleted", report.media_deleted)
            .detail("rooms_left", report.rooms_left);
        db.write_audited(batch, event)?;
        self.forget_and_compact(event_ids).await?;
        tracing::warn!(actor = %actor, user = %user_id, ?report, "user data erased");
        Ok(report)
    }
}
