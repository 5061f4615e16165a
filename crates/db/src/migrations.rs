//! Schema versions and forward migrations, run once at start before anything else reads.
//!
//! A fresh database is stamped with [`SCHEMA_VERSION`]. An older one runs each step from its
//! version up, each step in its own atomic batch together with the new version number, so an
//! interrupted upgrade resumes where it stopped. A newer one is refused: this binary cannot know
//! what the newer layout means.

use accord_storage::WriteBatch;
use tracing::info;

use crate::{Db, Error, Result, tables};

/// The layout this binary reads and writes.
pub const SCHEMA_VERSION: u64 = 3;

const VERSION_KEY: &[u8] = b"schema_version";

/// One forward step: from `from` to `from + 1`, queued into the batch that also stamps the version.
type Step = fn(&Db, &mut WriteBatch) -> Result<()>;

/// `STEPS[i]` migrates version `i + 1` to `i + 2`.
const STEPS: &[Step] = &[
    // 1 -> 2: the relations index (`parent_count_child`, thread activity) for stored events.
    crate::rooms::index_existing_relations,
    // 2 -> 3: the timeline by time (`roomid_ts_count`) for stored events.
    crate::rooms::index_existing_event_times,
];

/// Brings the database to [`SCHEMA_VERSION`], or refuses one written by a newer Accord.
pub(crate) fn run(db: &Db) -> Result<()> {
    run_steps(db, SCHEMA_VERSION, STEPS)
}

fn run_steps(db: &Db, target: u64, steps: &[Step]) -> Result<()> {
    let Some(mut version) = stored_version(db)? else {
        let mut batch = WriteBatch::new();
        stamp(&mut batch, target);
        return db.write(batch);
    };
    if version > target {
        return Err(Error::NewerSchema {
            found: version,
            supported: target,
        });
    }
    while version < target {
        let step = usize::try_from(version - 1)
            .ok()
            .and_then(|i| steps.get(i))
            .ok_or(Error::Corrupt {
                table: tables::GLOBAL,
                reason: format!("no migration from schema {version}"),
            })?;
        info!(from = version, to = version + 1, "migrating database schema");
        let mut batch = WriteBatch::new();
        step(db, &mut batch)?;
        stamp(&mut batch, version + 1);
        db.write(batch)?;
        version += 1;
    }
    Ok(())
}

/// The version stamped in the database, or `None` for a fresh one.
pub(crate) fn stored_version(db: &Db) -> Result<Option<u64>> {
    let Some(bytes) = db.get_raw(tables::GLOBAL, VERSION_KEY)? else {
        return Ok(None);
    };
    let array: [u8; 8] = bytes.as_slice().try_into().map_err(|_| Error::Corrupt {
        table: tables::GLOBAL,
        reason: "schema_version is not 8 bytes".to_owned(),
    })?;
    Ok(Some(u64::from_be_bytes(array)))
}

fn stamp(batch: &mut WriteBatch, version: u64) {
    batch.put(tables::GLOBAL, VERSION_KEY, version.to_be_bytes());
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::Arc;

    use accord_storage_rocksdb::RocksEngine;

    use super::*;

    fn engine(dir: &std::path::Path) -> Arc<dyn accord_storage::KvEngine> {
        Arc::new(RocksEngine::open(dir, tables::ALL, tables::DROPPED).unwrap())
    }

    #[test]
    fn fresh_database_is_stamped_with_current_version() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(engine(dir.path())).unwrap();
        assert_eq!(stored_version(&db).unwrap(), Some(SCHEMA_VERSION));
    }

    #[test]
    fn newer_database_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = Db::open(engine(dir.path())).unwrap();
            let mut batch = WriteBatch::new();
            stamp(&mut batch, SCHEMA_VERSION + 1);
            db.write(batch).unwrap();
        }
        let err = Db::open(engine(dir.path())).unwrap_err();
        assert!(
            matches!(err, Error::NewerSchema { found, supported } if found == SCHEMA_VERSION + 1 && supported == SCHEMA_VERSION)
        );
        assert!(err.to_string().contains("newer than this Accord supports"));
    }

    #[test]
    fn older_database_runs_each_step_in_order() {
        fn to_two(_: &Db, batch: &mut WriteBatch) -> Result<()> {
            batch.put(tables::GLOBAL, b"step".to_vec(), b"2".to_vec());
            Ok(())
        }
        fn to_three(db: &Db, batch: &mut WriteBatch) -> Result<()> {
            // Sees the previous step's committed write.
            let prev = db.get_raw(tables::GLOBAL, b"step")?.unwrap_or_default();
            batch.put(tables::GLOBAL, b"step".to_vec(), [prev, b"3".to_vec()].concat());
            Ok(())
        }
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(engine(dir.path())).unwrap();
        // As if written by a schema-1 Accord.
        let mut batch = WriteBatch::new();
        stamp(&mut batch, 1);
        db.write(batch).unwrap();
        run_steps(&db, 3, &[to_two, to_three]).unwrap();
        assert_eq!(stored_version(&db).unwrap(), Some(3));
        assert_eq!(db.get_raw(tables::GLOBAL, b"step").unwrap(), Some(b"23".to_vec()));
    }
}
