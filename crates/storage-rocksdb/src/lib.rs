//! The RocksDB engine behind `accord-storage`: one column family per catalog table, durable
//! (synced) atomic write batches, and ordered iteration in both directions.
//!
//! Nothing outside this crate sees a RocksDB type; errors map onto [`accord_storage::Error`].

mod options;

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use accord_storage::{
    Direction, Error, KvEngine, KvIter, Result, TableDef, TableFigures, WriteBatch, prefix_upper_bound,
};
use rocksdb::{
    ColumnFamily, ColumnFamilyDescriptor, DB, DEFAULT_COLUMN_FAMILY_NAME, FlushOptions, IteratorMode, ReadOptions,
    WriteOptions,
};

/// A RocksDB database whose column families are the tables of one catalog.
pub struct RocksEngine {
    db: DB,
    path: PathBuf,
    /// The catalog's table names; only these are readable or writable, even if the database
    /// holds other (unknown but kept) column families.
    tables: HashSet<&'static str>,
    /// Synced writes: a batch is in the fsynced WAL before `write` returns.
    write_opts: WriteOptions,
    /// In the WAL at once, synced later by `sync` (group commit across room writers).
    deferred_write_opts: WriteOptions,
}

impl fmt::Debug for RocksEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut tables: Vec<_> = self.tables.iter().collect();
        tables.sort();
        f.debug_struct("RocksEngine")
            .field("path", &self.path)
            .field("tables", &tables)
            .finish_non_exhaustive()
    }
}

impl RocksEngine {
    /// Opens (creating if missing) the database at `path` with one column family per table.
    ///
    /// Column families named in `dropped` (tombstones of tables removed from the catalog) are
    /// deleted if present. Any other existing column family the catalog does not declare is
    /// opened anyway, since RocksDB refuses to open a database without all its column
    /// families, and kept untouched with a warning: it may belong to a newer Accord.
    pub fn open(path: &Path, tables: &[TableDef], dropped: &[&'static str]) -> Result<Self> {
        let catalog = validate_catalog(tables, dropped)?;
        std::fs::create_dir_all(path).map_err(|e| Error::Path {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;

        let db_opts = options::options();
        let existing = existing_column_families(path, &db_opts)?;

        let mut descriptors: Vec<ColumnFamilyDescriptor> = tables
            .iter()
            .map(|t| ColumnFamilyDescriptor::new(t.name, db_opts.clone()))
            .collect();
        let mut to_drop = Vec::new();
        for name in &existing {
            if name == DEFAULT_COLUMN_FAMILY_NAME || catalog.contains(name.as_str()) {
                continue;
            }
            if dropped.contains(&name.as_str()) {
                to_drop.push(name.clone());
            } else {
                tracing::warn!(
                    path = %path.display(),
                    column_family = %name,
                    "database holds a table this Accord does not know; keeping it untouched"
                );
            }
            descriptors.push(ColumnFamilyDescriptor::new(name, db_opts.clone()));
        }

        let mut db = DB::open_cf_descriptors(&db_opts, path, descriptors).map_err(|e| map_open_error(path, e))?;
        for name in to_drop {
            db.drop_cf(&name)
                .map_err(|e| Error::Engine(format!("dropping removed table `{name}`: {}", e.into_string())))?;
            tracing::info!(path = %path.display(), table = %name, "dropped removed table");
        }

        let mut write_opts = WriteOptions::default();
        write_opts.set_sync(true);
        let mut deferred_write_opts = WriteOptions::default();
        deferred_write_opts.set_sync(false);
        Ok(Self {
            db,
            path: path.to_path_buf(),
            tables: catalog,
            write_opts,
            deferred_write_opts,
        })
    }

    /// The directory this database lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The column family of a catalog table; undeclared names are refused even if such a
    /// column family exists.
    fn cf(&self, table: &'static str) -> Result<&ColumnFamily> {
        if !self.tables.contains(table) {
            return Err(Error::UnknownTable(table));
        }
        self.db
            .cf_handle(table)
            .ok_or_else(|| Error::Engine(format!("column family for declared table `{table}` is not open")))
    }
}

/// The catalog's names as a set, refusing duplicates and names that are also tombstoned (both
/// are programming errors that would otherwise lose or mix data).
fn validate_catalog(tables: &[TableDef], dropped: &[&'static str]) -> Result<HashSet<&'static str>> {
    let mut names = HashSet::with_capacity(tables.len());
    for table in tables {
        if !names.insert(table.name) {
            return Err(Error::Engine(format!(
                "table `{}` is declared twice in the catalog",
                table.name
            )));
        }
        if dropped.contains(&table.name) {
            return Err(Error::Engine(format!(
                "table `{}` is both declared and listed as dropped",
                table.name
            )));
        }
    }
    Ok(names)
}

/// The column families already in the database, or none if there is no database yet.
fn existing_column_families(path: &Path, opts: &rocksdb::Options) -> Result<Vec<String>> {
    // `list_cf` fails on a fresh directory; only a database with a CURRENT file has any.
    if !path.join("CURRENT").exists() {
        return Ok(Vec::new());
    }
    DB::list_cf(opts, path).map_err(|e| map_open_error(path, e))
}

/// Maps an open failure, recognising RocksDB's lock failures as [`Error::InUse`].
fn map_open_error(path: &Path, e: rocksdb::Error) -> Error {
    let message = e.into_string();
    if is_lock_error(&message) {
        Error::InUse {
            path: path.to_path_buf(),
        }
    } else {
        Error::Engine(message)
    }
}

/// Whether RocksDB failed to take the `LOCK` file: another process holds it ("While lock
/// file: …/LOCK: Resource temporarily unavailable") or this one does ("lock hold by current
/// process"). Matched narrowly: plain "lock" also appears in e.g. "block checksum mismatch".
fn is_lock_error(message: &str) -> bool {
    message.contains("While lock file")
        || message.contains("lock hold by current process")
        || (message.contains("/LOCK") && message.contains("Resource temporarily unavailable"))
}

fn engine_error(e: rocksdb::Error) -> Error {
    Error::Engine(e.into_string())
}

/// Adapts a RocksDB iterator to the engine-neutral [`KvIter`].
fn boxed<'a>(iter: rocksdb::DBIteratorWithThreadMode<'a, DB>) -> KvIter<'a> {
    Box::new(iter.map(|item| item.map(|(k, v)| (k.into_vec(), v.into_vec())).map_err(engine_error)))
}

impl RocksEngine {
    /// Converts a batch, resolving every table first so an unknown one fails the batch before
    /// anything is queued; RocksDB then applies the whole batch atomically.
    fn to_rocks(&self, batch: &WriteBatch) -> Result<rocksdb::WriteBatch> {
        let mut rocks = rocksdb::WriteBatch::default();
        for op in batch.ops() {
            match op {
                accord_storage::BatchOp::Put { table, key, value } => {
                    rocks.put_cf(self.cf(table)?, key, value);
                }
                accord_storage::BatchOp::Delete { table, key } => {
                    rocks.delete_cf(self.cf(table)?, key);
                }
            }
        }
        Ok(rocks)
    }
}

impl KvEngine for RocksEngine {
    fn get(&self, table: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let cf = self.cf(table)?;
        self.db.get_cf(cf, key).map_err(engine_error)
    }

    fn write(&self, batch: WriteBatch) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let rocks = self.to_rocks(&batch)?;
        self.db.write_opt(rocks, &self.write_opts).map_err(engine_error)
    }

    fn write_deferred(&self, batch: WriteBatch) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let rocks = self.to_rocks(&batch)?;
        self.db
            .write_opt(rocks, &self.deferred_write_opts)
            .map_err(engine_error)
    }

    fn sync(&self) -> Result<()> {
        self.db.flush_wal(true).map_err(engine_error)
    }

    fn iter_from<'a>(&'a self, table: &'static str, from: Option<&[u8]>, direction: Direction) -> Result<KvIter<'a>> {
        let cf = self.cf(table)?;
        let mode = match (from, direction) {
            (None, Direction::Forward) => IteratorMode::Start,
            (None, Direction::Backward) => IteratorMode::End,
            (Some(key), Direction::Forward) => IteratorMode::From(key, rocksdb::Direction::Forward),
            // Reverse seeks with SeekForPrev: the greatest key <= `key`, as the trait requires.
            (Some(key), Direction::Backward) => IteratorMode::From(key, rocksdb::Direction::Reverse),
        };
        Ok(boxed(self.db.iterator_cf(cf, mode)))
    }

    /// Uses RocksDB's iterate bounds so the scan stops inside the engine at the prefix's edges
    /// (no stepping over neighbouring keys or their tombstones).
    fn iter_prefix<'a>(&'a self, table: &'static str, prefix: &[u8], direction: Direction) -> Result<KvIter<'a>> {
        let cf = self.cf(table)?;
        let mut read_opts = ReadOptions::default();
        read_opts.set_iterate_lower_bound(prefix.to_vec());
        if let Some(upper) = prefix_upper_bound(prefix) {
            read_opts.set_iterate_upper_bound(upper);
        }
        let mode = match direction {
            Direction::Forward => IteratorMode::Start,
            Direction::Backward => IteratorMode::End,
        };
        Ok(boxed(self.db.iterator_cf_opt(cf, read_opts, mode)))
    }

    fn figures(&self) -> Vec<TableFigures> {
        let mut figures = Vec::with_capacity(self.tables.len());
        for table in &self.tables {
            let Ok(cf) = self.cf(table) else { continue };
            let property = |name: &str| self.db.property_int_value_cf(cf, name).ok().flatten().unwrap_or(0);
            figures.push(TableFigures {
                table,
                disk_bytes: property("rocksdb.total-sst-files-size"),
                memory_bytes: property("rocksdb.cur-size-all-mem-tables"),
                keys: property("rocksdb.estimate-num-keys"),
            });
        }
        figures
    }

    /// A RocksDB checkpoint: hard links to the immutable files (same filesystem) or copies,
    /// plus the live state of the write-ahead log, consistent at one instant.
    fn checkpoint(&self, dir: &Path) -> Result<()> {
        let checkpoint = rocksdb::checkpoint::Checkpoint::new(&self.db).map_err(engine_error)?;
        checkpoint.create_checkpoint(dir).map_err(engine_error)
    }

    /// Flushes memtables, then compacts each table's whole key range down to the bottom level,
    /// which drops deleted rows and their tombstones from the files.
    fn compact(&self) -> Result<()> {
        self.flush()?;
        for table in &self.tables {
            let cf = self.cf(table)?;
            let mut options = rocksdb::CompactOptions::default();
            options.set_bottommost_level_compaction(rocksdb::BottommostLevelCompaction::Force);
            self.db.compact_range_cf_opt(cf, None::<&[u8]>, None::<&[u8]>, &options);
        }
        Ok(())
    }

    fn flush(&self) -> Result<()> {
        let mut cfs = Vec::with_capacity(self.tables.len());
        for table in &self.tables {
            cfs.push(self.cf(table)?);
        }
        self.db
            .flush_cfs_opt(&cfs, &FlushOptions::default())
            .map_err(engine_error)
    }
}

#[cfg(test)]
mod tests {
    use super::is_lock_error;

    #[test]
    fn lock_errors_are_recognised_narrowly() {
        assert!(is_lock_error(
            "IO error: While lock file: /d/LOCK: Resource temporarily unavailable"
        ));
        assert!(is_lock_error(
            "IO error: lock hold by current process, acquire time 1 acquiring thread 2: /d/LOCK: No locks available"
        ));
        assert!(!is_lock_error("Corruption: block checksum mismatch"));
    }
}
