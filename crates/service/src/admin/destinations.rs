//! Federation destinations for admins (Synapse's `/_synapse/admin/v1/federation/destinations`):
//! the servers this one shares rooms with or has events queued for, whether each is failing,
//! and a reset of a failing one's backoff.

use std::collections::BTreeSet;

use accord_db::AuditEvent;
use ruma::{OwnedRoomId, OwnedServerName, ServerName, UserId, events::room::member::MembershipState};
use serde::Serialize;

use crate::{Error, Result, Services};

/// One destination, in Synapse's shape.
#[derive(Debug, Clone, Serialize)]
pub struct DestinationStatus {
    /// The server.
    pub destination: String,
    /// When the current wait started, ms (0 when not failing).
    pub retry_last_ts: u64,
    /// The current wait, ms (0 when not failing).
    pub retry_interval: u64,
    /// Accord doesn't keep when a failure streak began: always null.
    pub failure_ts: Option<u64>,
    /// Accord doesn't keep the last position delivered: always null.
    pub last_successful_stream_ordering: Option<u64>,
    /// Failed attempts in a row (Accord's own field).
    pub failures: u32,
    /// Events waiting for it (Accord's own field).
    pub queued_events: usize,
}

impl Services {
    /// Every other server this one has rooms in common with or events queued for.
    fn known_destinations(&self) -> Result<BTreeSet<OwnedServerName>> {
        let db = self.db();
        let mut known = BTreeSet::new();
        for room_id in db.room_ids()? {
            for (member, membership) in db.members_of_room(&room_id)? {
                if membership == MembershipState::Join {
                    known.insert(member.server_name().to_owned());
                }
            }
        }
        known.extend(db.queued_destinations()?);
        known.extend(db.destination_backoffs()?.into_iter().map(|(server, _)| server));
        known.remove(&self.config.server_name);
        Ok(known)
    }

    fn destination_status(&self, destination: &ServerName) -> Result<DestinationStatus> {
        let db = self.db();
        let backoff = db.get_destination_backoff(destination)?;
        Ok(DestinationStatus {
            destination: destination.to_string(),
            retry_last_ts: backoff.map_or(0, |b| b.retry_at_ms.saturating_sub(b.delay_ms)),
            retry_interval: backoff.map_or(0, |b| b.delay_ms),
            failure_ts: None,
            last_successful_stream_ordering: None,
            failures: backoff.map_or(0, |b| b.failures),
            queued_events: db.queued_for(destination, 100_000)?.len(),
        })
    }

    /// Every known destination, by name.
    pub fn destinations(&self) -> Result<Vec<DestinationStatus>> {
        self.known_destinations()?
            .iter()
            .map(|destination| self.destination_status(destination))
            .collect()
    }

    /// One destination; 404 when this server has nothing to do with it.
    pub fn destination(&self, destination: &ServerName) -> Result<DestinationStatus> {
        if !self.known_destinations()?.contains(destination) {
            return Err(Error::not_found("Unknown destination"));
        }
        self.destination_status(destination)
    }

    /// The rooms shared with `destination` (a member of it joined).
    pub fn destination_rooms(&self, destination: &ServerName) -> Result<Vec<OwnedRoomId>> {
        self.destination(destination)?;
        let db = self.db();
        let mut rooms = Vec::new();
        for room_id in db.room_ids()? {
            let shared = db.members_of_room(&room_id)?.iter().any(|(member, membership)| {
                *membership == MembershipState::Join && member.server_name() == destination
            });
            if shared {
                rooms.push(room_id);
            }
        }
        Ok(rooms)
    }

    /// Forgets `destination`'s backoff so the sender tries it now. 400 when it isn't failing.
    pub fn reset_destination(&self, admin: &UserId, destination: &ServerName) -> Result<()> {
        let status = self.destination(destination)?;
        if status.retry_interval == 0 {
            return Err(Error::invalid_param(
                "The retry timing does not need to be reset for this destination",
            ));
        }
        let mut batch = accord_db::WriteBatch::new();
        self.db().queue_delete_destination_backoff(&mut batch, destination);
        let event = AuditEvent::new(crate::audit::kinds::DESTINATION_RESET)
            .actor(admin)
            .target(destination);
        self.db().write_audited(batch, event)?;
        if let Some(federation) = &self.federation {
            federation.note_alive(destination);
        }
        Ok(())
    }
}
