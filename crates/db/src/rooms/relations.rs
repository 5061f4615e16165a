//! Relations between events (spec: "Forming relationships between events"): which events
//! point at which through `m.relates_to`, in timeline order, and each room's threads ordered by
//! their latest reply. Written in the child event's own batch, so the index never disagrees
//! with the timeline; removed in the batch that redacts the child (redaction strips
//! `m.relates_to`).

use accord_storage::{
    Direction,
    codec::{KeyBuilder, KeyReader},
};
use ruma::{EventId, OwnedEventId, RoomId};
use serde::{Deserialize, Serialize};

use super::{RoomBatch, ShortEventId, short::decode_u64};
use crate::{
    Db, Error, Result,
    database::{decode, encode},
    tables::{PARENT_COUNT_CHILD, ROOMID_THREADACTIVITY, THREADROOT_LATEST},
};

/// What the index keeps of a child event, so aggregations need not load it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelationRecord {
    /// `m.relates_to.rel_type`.
    pub rel_type: String,
    /// The child's event type.
    pub kind: String,
    /// The child's sender.
    pub sender: String,
}

/// One child of an event, found in the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    /// The child's timeline position.
    pub count: u64,
    /// The child.
    pub child: ShortEventId,
    /// What the index keeps of it.
    pub record: RelationRecord,
}

/// One thread of a room, found by its latest activity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadActivity {
    /// The timeline position of the thread's latest reply.
    pub latest: u64,
    /// The thread root.
    pub root: OwnedEventId,
}

/// A row's key in `parent_count_child`.
fn relation_key(room_id: &RoomId, parent: &EventId, count: u64, child: ShortEventId) -> Vec<u8> {
    KeyBuilder::new()
        .str(room_id.as_str())
        .str(parent.as_str())
        .u64(count)
        .u64(child.0)
        .build()
}

fn corrupt(table: &'static str) -> impl Fn(accord_storage::codec::CodecError) -> Error {
    move |err| Error::Corrupt {
        table,
        reason: err.to_string(),
    }
}

impl Db {
    /// Queues recording that `child` (at timeline position `count`) relates to `parent`; a
    /// thread reply also moves its thread to `count` in the room's thread order when it is the
    /// newest reply. Parents are named by event id (a child may arrive before its parent),
    /// under the child's room: a child in another room is never found as the parent's.
    pub fn put_relation(
        &self,
        batch: &mut RoomBatch<'_>,
        parent: &EventId,
        count: u64,
        child: ShortEventId,
        record: &RelationRecord,
    ) -> Result<()> {
        let room_id = batch.room_id().to_owned();
        let is_thread = record.rel_type == "m.thread";
        let value = encode(record);
        batch
            .rows()
            .put(PARENT_COUNT_CHILD, relation_key(&room_id, parent, count, child), value);
        if is_thread {
            self.bump_thread(batch, &room_id, parent, count)?;
        }
        Ok(())
    }

    /// Queues removing a relation (its child was redacted). A thread keeps its place in the
    /// thread order (Synapse does the same: the root still had that activity).
    pub fn delete_relation(&self, batch: &mut RoomBatch<'_>, parent: &EventId, count: u64, child: ShortEventId) {
        let room_id = batch.room_id().to_owned();
        batch
            .rows()
            .delete(PARENT_COUNT_CHILD, relation_key(&room_id, parent, count, child));
    }

    fn bump_thread(&self, batch: &mut RoomBatch<'_>, room_id: &RoomId, root: &EventId, count: u64) -> Result<()> {
        let previous = self
            .engine()
            .get(THREADROOT_LATEST, root.as_bytes())?
            .map(|value| decode_u64(THREADROOT_LATEST, &value))
            .transpose()?;
        if previous.is_some_and(|latest| latest >= count) {
            // A backfilled reply older than the latest one.
            return Ok(());
        }
        let rows = batch.rows();
        if let Some(latest) = previous {
            rows.delete(
                ROOMID_THREADACTIVITY,
                KeyBuilder::new()
                    .str(room_id.as_str())
                    .u64(latest)
                    .str(root.as_str())
                    .build(),
            );
        }
        rows.put(
            ROOMID_THREADACTIVITY,
            KeyBuilder::new()
                .str(room_id.as_str())
                .u64(count)
                .str(root.as_str())
                .build(),
            [],
        );
        rows.put(THREADROOT_LATEST, root.as_bytes(), count.to_be_bytes());
        Ok(())
    }

    /// Children of `parent` past the token position `from` in `direction`, as `/messages` reads
    /// tokens: backward, those at or before it; forward, those after it (`None`: from the
    /// newest going backward, the oldest going forward). At most `limit`, each passing `keep`
    /// (which sees the record only, so filtering by type costs no event load).
    pub fn relations(
        &self,
        room_id: &RoomId,
        parent: &EventId,
        from: Option<u64>,
        direction: Direction,
        limit: usize,
        keep: impl Fn(&RelationRecord) -> bool,
    ) -> Result<Vec<Relation>> {
        let (room, parent) = (room_id.as_str(), parent.as_str());
        let prefix = KeyBuilder::new().str(room).str(parent).prefix();
        let start = match (direction, from) {
            (Direction::Forward, Some(from)) => KeyBuilder::new()
                .str(room)
                .str(parent)
                .u64(from.saturating_add(1))
                .build(),
            (Direction::Forward, None) => prefix.clone(),
            (Direction::Backward, Some(from)) => {
                KeyBuilder::new().str(room).str(parent).u64(from).u64(u64::MAX).build()
            }
            (Direction::Backward, None) => KeyBuilder::new().str(room).str(parent).u64(u64::MAX).build(),
        };
        let mut out = Vec::new();
        for item in self.engine().iter_from(PARENT_COUNT_CHILD, Some(&start), direction)? {
            let (key, value) = item?;
            if !key.starts_with(&prefix) || out.len() >= limit {
                break;
            }
            let mut reader = KeyReader::new(&key);
            reader.str().map_err(corrupt(PARENT_COUNT_CHILD))?;
            reader.str().map_err(corrupt(PARENT_COUNT_CHILD))?;
            let count = reader.u64().map_err(corrupt(PARENT_COUNT_CHILD))?;
            let child = ShortEventId(reader.u64().map_err(corrupt(PARENT_COUNT_CHILD))?);
            let record: RelationRecord = decode(PARENT_COUNT_CHILD, &value)?;
            if keep(&record) {
                out.push(Relation { count, child, record });
            }
        }
        Ok(out)
    }

    /// The room's threads by latest reply, newest first, those whose latest reply is at or
    /// before `at_or_before` (`None`: from the newest), at most `limit`, each passing `keep`.
    pub fn threads<E: From<Error>>(
        &self,
        room_id: &RoomId,
        at_or_before: Option<u64>,
        limit: usize,
        mut keep: impl FnMut(&ThreadActivity) -> std::result::Result<bool, E>,
    ) -> std::result::Result<Vec<ThreadActivity>, E> {
        let prefix = KeyBuilder::new().str(room_id.as_str()).prefix();
        let start = match at_or_before {
            Some(position) => {
                // Past every root at `position` (event ids are ASCII, below 0xFF).
                let mut key = KeyBuilder::new().str(room_id.as_str()).u64(position).prefix();
                key.push(0xFF);
                key
            }
            None => KeyBuilder::new().str(room_id.as_str()).u64(u64::MAX).build(),
        };
        let mut out = Vec::new();
        for item in self
            .engine()
            .iter_from(ROOMID_THREADACTIVITY, Some(&start), Direction::Backward)
            .map_err(Error::from)?
        {
            let (key, _) = item.map_err(Error::from)?;
            if !key.starts_with(&prefix) || out.len() >= limit {
                break;
            }
            let mut reader = KeyReader::new(&key);
            reader.str().map_err(corrupt(ROOMID_THREADACTIVITY))?;
            let latest = reader.u64().map_err(corrupt(ROOMID_THREADACTIVITY))?;
            let root = reader.str().map_err(corrupt(ROOMID_THREADACTIVITY))?;
            let root = OwnedEventId::try_from(root).map_err(|err| Error::Corrupt {
                table: ROOMID_THREADACTIVITY,
                reason: err.to_string(),
            })?;
            let thread = ThreadActivity { latest, root };
            if keep(&thread)? {
                out.push(thread);
            }
        }
        Ok(out)
    }
}

/// Schema 1 to 2: indexes the relations of every event already in a timeline (databases from
/// before the index), in the migration's batch. Redacted events are skipped (their relation
/// is gone); progress is logged every 100,000 events.
pub(crate) fn index_existing(db: &Db, batch: &mut accord_storage::WriteBatch) -> Result<()> {
    use std::collections::HashMap;

    let mut latest_reply: HashMap<OwnedEventId, (String, u64)> = HashMap::new();
    let mut indexed = 0u64;
    let scanned = super::timeline_feed::for_each_stored_event(
        db,
        "indexing relations of stored events",
        |room, count, child, pdu| {
            let text = |value: Option<&ruma::CanonicalJsonValue>| match value {
                Some(ruma::CanonicalJsonValue::String(text)) => Some(text.clone()),
                _ => None,
            };
            let Some(ruma::CanonicalJsonValue::Object(content)) = pdu.get("content") else {
                return Ok(());
            };
            let Some(ruma::CanonicalJsonValue::Object(relates_to)) = content.get("m.relates_to") else {
                return Ok(());
            };
            let (Some(rel_type), Some(parent)) = (text(relates_to.get("rel_type")), text(relates_to.get("event_id")))
            else {
                return Ok(());
            };
            let Ok(parent) = OwnedEventId::try_from(parent) else {
                return Ok(());
            };
            // Read only for events with a relation: most have none.
            if db.event_meta(child)?.redacted_by.is_some() {
                return Ok(());
            }
            let record = RelationRecord {
                rel_type,
                kind: text(pdu.get("type")).unwrap_or_default(),
                sender: text(pdu.get("sender")).unwrap_or_default(),
            };
            if record.rel_type == "m.thread" {
                let entry = latest_reply.entry(parent.clone()).or_insert((room.to_string(), count));
                entry.1 = entry.1.max(count);
            }
            batch.put(
                PARENT_COUNT_CHILD,
                relation_key(room, &parent, count, child),
                encode(&record),
            );
            indexed += 1;
            Ok(())
        },
    )?;
    for (root, (room_id, latest)) in &latest_reply {
        batch.put(
            ROOMID_THREADACTIVITY,
            KeyBuilder::new().str(room_id).u64(*latest).str(root.as_str()).build(),
            [],
        );
        batch.put(THREADROOT_LATEST, root.as_bytes(), latest.to_be_bytes());
    }
    tracing::info!(
        scanned,
        indexed,
        threads = latest_reply.len(),
        "relations of stored events indexed"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::Arc;

    use accord_storage::WriteBatch;
    use accord_storage_rocksdb::RocksEngine;
    use ruma::{owned_event_id, owned_room_id};
    use serde_json::json;

    use super::*;
    use crate::{
        rooms::EventMeta,
        tables::{self, ROOMID_COUNT_SHORTEVENTID, SHORTEVENTID_EVENTMETA, SHORTEVENTID_PDU},
    };

    /// Stores an event the way a schema-1 database holds it: timeline row, PDU, meta.
    fn store(
        batch: &mut WriteBatch,
        short: u64,
        count: u64,
        event_id: &str,
        content: serde_json::Value,
        redacted: bool,
    ) {
        let room_id = owned_room_id!("!room:example.org");
        batch.put(
            ROOMID_COUNT_SHORTEVENTID,
            KeyBuilder::new().str(room_id.as_str()).u64(count).build(),
            short.to_be_bytes(),
        );
        let pdu = json!({ "type": "m.room.message", "sender": "@alice:example.org", "content": content });
        batch.put(SHORTEVENTID_PDU, short.to_be_bytes(), serde_json::to_vec(&pdu).unwrap());
        let meta = EventMeta {
            event_id: OwnedEventId::try_from(event_id).unwrap(),
            room_id,
            count: Some(count),
            state_after: Some(1),
            rejected: false,
            soft_failed: false,
            redacted_by: redacted.then(|| owned_event_id!("$redaction:example.org")),
            txn: None,
            gap_before: false,
        };
        batch.put(SHORTEVENTID_EVENTMETA, short.to_be_bytes(), encode(&meta));
    }

    #[test]
    fn the_migration_indexes_relations_and_threads_of_stored_events() {
        let dir = tempfile::tempdir().unwrap();
        let engine: Arc<dyn accord_storage::KvEngine> =
            Arc::new(RocksEngine::open(dir.path(), tables::ALL, tables::DROPPED).unwrap());
        let db = Db::open(engine).unwrap();
        let thread = |body: &str| json!({ "body": body, "m.relates_to": { "rel_type": "m.thread", "event_id": "$root:example.org" } });
        let mut batch = WriteBatch::new();
        store(
            &mut batch,
            1,
            100,
            "$root:example.org",
            json!({ "body": "root" }),
            false,
        );
        store(&mut batch, 2, 200, "$a:example.org", thread("a"), false);
        store(&mut batch, 3, 300, "$b:example.org", thread("b"), false);
        store(&mut batch, 4, 400, "$gone:example.org", thread("redacted"), true);
        store(
            &mut batch,
            5,
            500,
            "$plain:example.org",
            json!({ "body": "no relation" }),
            false,
        );
        db.write(batch).unwrap();

        let mut migration = WriteBatch::new();
        index_existing(&db, &mut migration).unwrap();
        db.write(migration).unwrap();

        let root = owned_event_id!("$root:example.org");
        let room = owned_room_id!("!room:example.org");
        let children = db
            .relations(&room, &root, None, Direction::Forward, 10, |_| true)
            .unwrap();
        let found: Vec<(u64, u64)> = children.iter().map(|r| (r.count, r.child.0)).collect();
        assert_eq!(
            found,
            vec![(200, 2), (300, 3)],
            "the redacted reply and the plain message are not children"
        );
        assert_eq!(children[0].record.rel_type, "m.thread");
        assert_eq!(children[0].record.sender, "@alice:example.org");
        let threads = db.threads::<Error>(&room, None, 10, |_| Ok(true)).unwrap();
        assert_eq!(threads, vec![ThreadActivity { latest: 300, root }]);
    }
}
