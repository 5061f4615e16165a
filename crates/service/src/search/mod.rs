//! Message search (spec: "Server Side Search"): the full-text index kept in step with every
//! room's timeline, and `POST /search` over it.
//!
//! The index follows the timeline as a feed: live positions in stream order, backfilled
//! ones in the order they were handed out. A background task catches up every second, and a
//! search catches up first, so a message is found as soon as it is sent. Each commit records
//! how far the index got, so after a crash the next catch-up redoes what was lost; an index
//! without that record (new, or deleted by an admin) is rebuilt from every timeline.

mod indexer;
mod query;

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use accord_db::Db;
use accord_room::Rooms;
use accord_search::SearchIndex;

pub use query::{SearchRequest, SearchResults};

use crate::{Error, Result};

/// How long a search waits for a catch-up or rebuild in progress.
const SEARCH_WAITS_FOR: std::time::Duration = std::time::Duration::from_secs(5);

/// How often the background task catches the index up.
const CATCH_UP_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// The index and what feeds it. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Search {
    index: Arc<SearchIndex>,
    db: Db,
    rooms: Rooms,
    /// One catch-up or rebuild at a time.
    feeding: Arc<parking_lot::Mutex<()>>,
    /// A rebuild is running: searches answer from what is indexed so far rather than wait.
    rebuilding: Arc<AtomicBool>,
}

impl Search {
    pub(crate) fn open(config: &accord_core::Config, db: Db, rooms: Rooms) -> Result<Self> {
        let path = config.search_path();
        let index = SearchIndex::open(&path).map_err(|err| {
            Error::Internal(format!(
                "{err}; check that {} is writable, or set search.path",
                path.display()
            ))
        })?;
        Ok(Self {
            index: Arc::new(index),
            db,
            rooms,
            feeding: Arc::default(),
            rebuilding: Arc::default(),
        })
    }

    /// Brings the index up to the timeline (building it first if it was never built).
    pub fn catch_up(&self) -> Result<()> {
        let _feeding = self.feeding.lock();
        self.catch_up_locked()
    }

    fn catch_up_locked(&self) -> Result<()> {
        match self.index.progress().map_err(search_error)? {
            Some(progress) => self.follow(progress),
            None => self.rebuild_locked().map(drop),
        }
    }

    /// Indexes every timeline afresh (`accord search rebuild`, or an index never built).
    pub fn rebuild(&self) -> Result<usize> {
        let _feeding = self.feeding.lock();
        self.rebuild_locked()
    }

    /// Removes events from the index for good: their words leave the index files too (an
    /// erasure or a purge; the events themselves were pruned).
    pub fn forget(&self, event_ids: &[ruma::OwnedEventId]) -> Result<()> {
        self.remove(event_ids)?;
        self.index.compact().map_err(search_error)
    }

    /// Takes `event_ids` out of the index, durably, without merging segments: for a job that
    /// removes in batches and must not lose a batch's removal to a crash (retention), and
    /// compacts once at the end.
    pub fn remove(&self, event_ids: &[ruma::OwnedEventId]) -> Result<()> {
        let _feeding = self.feeding.lock();
        for event_id in event_ids {
            self.index.remove(event_id.as_str()).map_err(search_error)?;
        }
        if let Some(progress) = self.index.progress().map_err(search_error)? {
            self.index.commit(progress).map_err(search_error)?;
        }
        Ok(())
    }

    /// Catches up before a search. A rebuild that takes longer than [`SEARCH_WAITS_FOR`]
    /// (a large database) is not waited out: the search reads what is indexed so far.
    fn catch_up_for_search(&self) -> Result<()> {
        match self.feeding.try_lock_for(SEARCH_WAITS_FOR) {
            Some(_feeding) => self.catch_up_locked(),
            None => {
                if self.rebuilding.load(Ordering::SeqCst) {
                    tracing::info!("search answered while the index is still being built");
                }
                Ok(())
            }
        }
    }
}

/// Catches the index up every [`CATCH_UP_EVERY`] until shutdown; builds it at start if needed.
pub async fn run_search_indexer(search: Search, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    loop {
        let feeder = search.clone();
        match tokio::task::spawn_blocking(move || feeder.catch_up()).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::warn!(%err, "the search index did not catch up"),
            Err(err) => tracing::error!(%err, "the search indexer stopped"),
        }
        tokio::select! {
            _ = tokio::time::sleep(CATCH_UP_EVERY) => {}
            _ = shutdown.changed() => return,
        }
    }
}

fn search_error(err: accord_search::Error) -> Error {
    Error::Internal(err.to_string())
}
