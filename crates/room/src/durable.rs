//! Group commit for accepted events: events are written to the WAL at once (visible to
//! readers, so later events can build on them) and fsynced together, once per federation
//! transaction instead of once per event. Their stream positions stay hidden from `/sync` until
//! the sync, so nothing is shown that a crash could take back; when the sync fails they stay
//! hidden for good (until a restart replays what did reach the disk).

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
    /// One fsync for everything in `pending`; then its stream positions become visible. When
    /// the fsync fails the positions stay held, so `/sync` and `/messages` never show events
    /// that a crash could take back, and the error goes to the callers instead of an
    /// acknowledgement; storage refuses later writes (`Db::storage_failed`) until a restart.
    pub async fn make_durable(&self, pending: PendingWrites) -> Result<()> {
        let tickets = pending.tickets.into_inner();
        if tickets.is_empty() {
            return Ok(());
        }
        // The fsync and the release run together on the blocking pool, where a task runs to
        // its end even when its awaiter goes away (a client hanging up, the request timeout),
        // so the positions can't be stranded unreleased.
        let db = self.db.clone();
        let finish = tokio::task::spawn_blocking(move || {
            let synced = db.sync();
            if synced.is_ok() {
                for ticket in tickets {
                    db.release_count(ticket);
                }
            }
            synced
        });
        match finish.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => Err(err.into()),
            Err(err) => Err(Error::Internal(format!("sync task failed: {err}"))),
        }
    }
}
