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
        // The fsync runs on the blocking pool; the release follows here, on this worker, so
        // whoever waits on the stream is woken from the worker that will answer (no extra
        // cross-thread hand-off per send). Should this future be dropped mid-fsync (a client
        // hanging up, the request timeout), the guard hands the release to a task of its own,
        // so the positions can't be stranded.
        let db = self.db.clone();
        let syncing = db.clone();
        let mut release = ReleaseAfterSync {
            fsync: Some(tokio::task::spawn_blocking(move || syncing.sync())),
            tickets,
            db,
        };
        let synced = match release.fsync.as_mut() {
            Some(fsync) => fsync.await,
            None => return Err(Error::Internal("sync task missing".to_owned())),
        };
        release.fsync = None;
        match synced {
            Ok(Ok(())) => {
                release.release_now();
                Ok(())
            }
            Ok(Err(err)) => Err(err.into()),
            Err(err) => Err(Error::Internal(format!("sync task failed: {err}"))),
        }
    }
}

/// Positions to release once their fsync succeeded. Dropped while the fsync still runs, it
/// leaves the wait and the release to a task of its own.
struct ReleaseAfterSync {
    fsync: Option<tokio::task::JoinHandle<accord_db::Result<()>>>,
    tickets: Vec<StreamTicket>,
    db: accord_db::Db,
}

impl ReleaseAfterSync {
    fn release_now(&mut self) {
        for ticket in std::mem::take(&mut self.tickets) {
            self.db.release_count(ticket);
        }
    }
}

impl Drop for ReleaseAfterSync {
    fn drop(&mut self) {
        let Some(fsync) = self.fsync.take() else {
            return;
        };
        let (tickets, db) = (std::mem::take(&mut self.tickets), self.db.clone());
        tokio::spawn(async move {
            if matches!(fsync.await, Ok(Ok(()))) {
                for ticket in tickets {
                    db.release_count(ticket);
                }
            }
        });
    }
}
