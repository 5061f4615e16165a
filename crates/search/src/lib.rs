//! Accord's full-text index of room messages, for `POST /search` (spec: "Server Side
//! Search"): one tantivy index beside the database, holding each searchable event's `body`,
//! `name` and `topic` with its room, sender and timeline position.
//!
//! The index knows nothing of rooms or visibility: the service feeds it events in timeline
//! order, records with each commit how far it got ([`Progress`], the commit's payload, so a
//! crash loses nothing the next catch-up won't redo), and filters hits by what the asker may
//! see.

mod error;
mod query;
mod schema;

use std::{path::Path, sync::Mutex};

use serde::{Deserialize, Serialize};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term, directory::MmapDirectory};

pub use error::{Error, Result};
pub use query::{Hit, Hits, Order, SearchKey, SearchQuery};
use schema::Fields;

/// Memory the writer may buffer before it writes a segment.
const WRITER_HEAP: usize = 50 * 1024 * 1024;

/// How often [`SearchIndex::compact`] merges again after racing a background merge.
const MERGE_ATTEMPTS: u32 = 10;

/// The pause before merging again (a background merge of a few segments takes milliseconds).
const MERGE_RETRY_PAUSE: std::time::Duration = std::time::Duration::from_millis(50);

/// How far the index has followed the timeline, saved with each commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// Every live timeline position up to here is indexed.
    pub live: u64,
    /// Every backfilled position from here up is indexed (backfill counts run downward).
    pub backfill: u64,
}

/// One event as the index holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedEvent {
    /// The event's id.
    pub event_id: String,
    /// Its room.
    pub room_id: String,
    /// Its sender.
    pub sender: String,
    /// Its timeline position (stream count).
    pub count: u64,
    /// `content.body`.
    pub body: Option<String>,
    /// `content.name`.
    pub name: Option<String>,
    /// `content.topic`.
    pub topic: Option<String>,
}

/// The index: one writer, many readers.
pub struct SearchIndex {
    index: Index,
    writer: Mutex<IndexWriter>,
    reader: IndexReader,
    fields: Fields,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchIndex").finish_non_exhaustive()
    }
}

impl SearchIndex {
    /// Opens the index in `path`, creating the directory and an empty index if missing.
    pub fn open(path: &Path) -> Result<Self> {
        std::fs::create_dir_all(path).map_err(|source| Error::Directory {
            path: path.to_owned(),
            source,
        })?;
        let (schema, fields) = schema::build();
        let directory = MmapDirectory::open(path).map_err(|err| Error::Index(err.to_string()))?;
        let index = Index::open_or_create(directory, schema)?;
        schema::register_tokenizer(&index);
        let writer = index.writer(WRITER_HEAP)?;
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        Ok(Self {
            index,
            writer: Mutex::new(writer),
            reader,
            fields,
        })
    }

    /// How far the last commit got; `None` for an index never committed (to be built).
    pub fn progress(&self) -> Result<Option<Progress>> {
        let metas = self.index.load_metas()?;
        Ok(metas.payload.and_then(|payload| serde_json::from_str(&payload).ok()))
    }

    /// Adds (or replaces) an event. Searchable after the next [`Self::commit`].
    pub fn add(&self, event: &IndexedEvent) -> Result<()> {
        let writer = self.writer()?;
        writer.delete_term(Term::from_field_text(self.fields.event_id, &event.event_id));
        writer.add_document(self.fields.document(event))?;
        Ok(())
    }

    /// Removes an event (redacted). Takes effect at the next [`Self::commit`].
    pub fn remove(&self, event_id: &str) -> Result<()> {
        self.writer()?
            .delete_term(Term::from_field_text(self.fields.event_id, event_id));
        Ok(())
    }

    /// Empties the index (before a rebuild). Takes effect at the next [`Self::commit`].
    pub fn clear(&self) -> Result<()> {
        self.writer()?.delete_all_documents()?;
        Ok(())
    }

    /// Makes everything added or removed durable and searchable, recording `progress`.
    pub fn commit(&self, progress: Progress) -> Result<()> {
        let mut writer = self.writer()?;
        let mut prepared = writer.prepare_commit()?;
        let payload = serde_json::to_string(&progress).map_err(|err| Error::Index(err.to_string()))?;
        prepared.set_payload(&payload);
        prepared.commit()?;
        drop(writer);
        self.reader.reload()?;
        Ok(())
    }

    /// Merges every segment into one and deletes the old files, so removed events' words
    /// leave the index files (after an erasure or a purge).
    pub fn compact(&self) -> Result<()> {
        let mut writer = self.writer()?;
        let mut attempts = 0;
        loop {
            let ids = self.index.searchable_segment_ids()?;
            let merged_already = ids.len() <= 1
                && !self
                    .index
                    .searchable_segment_metas()?
                    .iter()
                    .any(|meta| meta.has_deletes());
            if merged_already {
                break;
            }
            match writer.merge(&ids).wait() {
                Ok(_) => break,
                // tantivy lets an explicit merge take segments that a background merge (started
                // by the last commit) is already merging, and fails whichever of the two ends
                // second. Ours is tried again on the segments as they are then.
                Err(tantivy::TantivyError::InvalidArgument(reason)) if attempts < MERGE_ATTEMPTS => {
                    attempts += 1;
                    tracing::debug!(%reason, attempts, "search index merge raced a background merge; merging again");
                    std::thread::sleep(MERGE_RETRY_PAUSE);
                }
                Err(err) => return Err(err.into()),
            }
        }
        writer.garbage_collect_files().wait()?;
        drop(writer);
        self.reader.reload()?;
        Ok(())
    }

    /// The events matching `query`, best or newest first, one page of them.
    pub fn search(&self, query: &SearchQuery<'_>) -> Result<Hits> {
        query::run(&self.index, &self.reader.searcher(), &self.fields, query)
    }

    /// The lowercase words a search term is split into, as matched (the `highlights`).
    pub fn words(&self, text: &str) -> Vec<String> {
        schema::words(&self.index, text)
    }

    fn writer(&self) -> Result<std::sync::MutexGuard<'_, IndexWriter>> {
        self.writer
            .lock()
            .map_err(|_| Error::Index("the index writer lock is poisoned".to_owned()))
    }
}

/// The stored fields of a document.
pub(crate) fn stored_text(doc: &TantivyDocument, field: tantivy::schema::Field) -> Option<String> {
    use tantivy::schema::Value;
    doc.get_first(field).and_then(|value| value.as_str()).map(str::to_owned)
}
