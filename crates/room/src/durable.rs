//! Group commit for accepted events: events are written to the WAL at once (visible to
//! readers, so later events can build on them) and fsynced together, once per federation
//! transaction instead of once per event. Their stream positions stay hidden from `/sync` until
//! the sync, so nothing is shown that a crash could take back.

use accord_db::rooms::StreamTicket;
use parking_lot::Mutex;

use crate::{Error, Result, Rooms};

/// Events written but not yet durable.
#[derive(Debug, Default)]
pub struct PendingWrites {
    tickets: Mutex<Vec<StreamTicket>>,
}

impl PendingWrites {
    pub(crate) fn add(&self, ticket: Option<StreamTicket>) {
        if let Some(ticket) = ticket {
            self.tickets.lock().push(ticket);
        }
    }
}

impl Rooms {
    /// One fsync for everything in `pending`; then its stream positions become visible.
    /// Positions are released even when the sync fails (readers must not stall), but the error
    /// is returned so the writes are not acknowledged.
    pub async fn make_durable(&self, pending: PendingWrites) -> Result<()> {
        let tickets = pending.tickets.into_inner();
        let synced = if tickets.is_empty() {
            Ok(Ok(()))
        } else {
            let db = self.db.clone();
            tokio::task::spawn_blocking(move || db.sync()).await
        };
        for ticket in tickets {
            self.db.release_count(ticket);
        }
        match synced {
            Ok(result) => Ok(result?),
            Err(err) => Err(Error::Internal(format!("sync task failed: {err}"))),
        }
    }
}
