//! The engine trait: named tables (column families), point reads, ordered iteration in both
//! directions, and atomic durable write batches spanning tables.

use crate::Result;

/// A table declared in the catalog: its name and a doc line giving key and value layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableDef {
    /// Column family name, `<key>_<value>` by convention.
    pub name: &'static str,
    /// One line: key layout -> value layout.
    pub doc: &'static str,
}

/// Iteration direction over a table's byte-ordered keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Ascending byte order.
    Forward,
    /// Descending byte order.
    Backward,
}

/// One mutation in a [`WriteBatch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchOp {
    /// Insert or replace `key` with `value` in `table`.
    Put {
        table: &'static str,
        key: Vec<u8>,
        value: Vec<u8>,
    },
    /// Remove `key` from `table` (absent keys are fine).
    Delete { table: &'static str, key: Vec<u8> },
}

/// Mutations applied all-or-nothing by [`KvEngine::write`].
///
/// Engine-independent on purpose: typed stores in `accord-db` fill it without knowing the engine.
#[derive(Debug, Default, Clone)]
pub struct WriteBatch {
    ops: Vec<BatchOp>,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Queue `table[key] = value`.
    pub fn put(&mut self, table: &'static str, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.ops.push(BatchOp::Put {
            table,
            key: key.into(),
            value: value.into(),
        });
    }

    /// Queue removal of `table[key]`.
    pub fn delete(&mut self, table: &'static str, key: impl Into<Vec<u8>>) {
        self.ops.push(BatchOp::Delete { table, key: key.into() });
    }

    /// The queued mutations, in order (later ones win for the same key).
    pub fn ops(&self) -> &[BatchOp] {
        &self.ops
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Number of queued mutations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }
}

/// One table's size as the engine estimates it, for monitoring.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableFigures {
    /// The table.
    pub table: &'static str,
    /// Bytes in its files on disk.
    pub disk_bytes: u64,
    /// Bytes in memory not yet written to files.
    pub memory_bytes: u64,
    /// Keys, estimated.
    pub keys: u64,
}

/// A boxed iterator of `(key, value)` pairs; each item may carry an engine error.
pub type KvIter<'a> = Box<dyn Iterator<Item = Result<(Vec<u8>, Vec<u8>)>> + Send + 'a>;

/// A synchronous ordered key-value engine with named tables.
///
/// Point reads take microseconds, so callers use these methods directly; long scans belong in
/// `spawn_blocking`. `write` returns only once the batch is durable (in the write-ahead log and
/// synced), so anything acknowledged to a client survives `kill -9`.
pub trait KvEngine: Send + Sync + 'static {
    /// Read one key.
    fn get(&self, table: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>>;

    /// Apply every op of `batch` atomically and durably.
    fn write(&self, batch: WriteBatch) -> Result<()>;

    /// Apply every op of `batch` atomically and visibly, durable only once a later [`sync`]
    /// returns. Lets a writer release its locks before the fsync, so concurrent writers share
    /// one (group commit). Engines without a separate sync make this the same as `write`.
    ///
    /// [`sync`]: KvEngine::sync
    fn write_deferred(&self, batch: WriteBatch) -> Result<()> {
        self.write(batch)
    }

    /// Make every write so far durable.
    fn sync(&self) -> Result<()> {
        Ok(())
    }

    /// Each table's size, for metrics; engines that can't tell return nothing.
    fn figures(&self) -> Vec<TableFigures> {
        Vec::new()
    }

    /// Writes a consistent copy of the whole database into the new directory `dir` while
    /// it keeps serving (a backup).
    fn checkpoint(&self, dir: &std::path::Path) -> Result<()> {
        Err(crate::Error::Engine(format!(
            "this storage engine can't copy itself to {}",
            dir.display()
        )))
    }

    /// Rewrites every table's files, so the bytes of deleted rows leave the disk (after a
    /// purge or an erasure).
    fn compact(&self) -> Result<()> {
        Ok(())
    }

    /// Iterate `table` starting at `from` (inclusive) in `direction`.
    ///
    /// `from = None` starts at the first key (Forward) or the last key (Backward). For Backward
    /// with `Some(from)`, iteration starts at the greatest key `<= from`.
    fn iter_from<'a>(&'a self, table: &'static str, from: Option<&[u8]>, direction: Direction) -> Result<KvIter<'a>>;

    /// Iterate the keys of `table` that start with `prefix`, in `direction`.
    fn iter_prefix<'a>(&'a self, table: &'static str, prefix: &[u8], direction: Direction) -> Result<KvIter<'a>> {
        let owned = prefix.to_vec();
        let start = match direction {
            Direction::Forward => Some(prefix.to_vec()),
            Direction::Backward => prefix_upper_bound(prefix),
        };
        let iter = match (direction, start) {
            (Direction::Backward, None) => self.iter_from(table, None, direction)?,
            (_, start) => self.iter_from(table, start.as_deref(), direction)?,
        };
        Ok(Box::new(
            // Backward starts at the greatest key `<=` the upper bound, which may be the bound
            // itself (outside the prefix): skip only keys above the prefix range. Keys below it
            // end the scan in `take_while`, so a prefix with no keys costs one step, not a scan
            // of everything below it.
            iter.skip_while({
                let owned = owned.clone();
                move |item| {
                    matches!(item, Ok((k, _)) if direction == Direction::Backward
                        && !k.starts_with(&owned)
                        && k.as_slice() > owned.as_slice())
                }
            })
            .take_while(move |item| match item {
                Ok((k, _)) => k.starts_with(&owned),
                Err(_) => true,
            }),
        ))
    }

    /// Flush memtables to disk (used at shutdown; durability does not depend on it).
    fn flush(&self) -> Result<()>;
}

/// The smallest key greater than every key starting with `prefix`, or `None` if no such key
/// exists (the prefix is empty or all `0xFF`).
///
/// Used for backward prefix scans, which start at the greatest key `<=` this bound; a key equal
/// to the bound itself does not start with `prefix` and is skipped.
pub fn prefix_upper_bound(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut bound = prefix.to_vec();
    while let Some(last) = bound.pop() {
        if last < u8::MAX {
            bound.push(last + 1);
            return Some(bound);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::prefix_upper_bound;

    #[test]
    fn upper_bound_increments_last_non_ff_byte() {
        assert_eq!(prefix_upper_bound(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_upper_bound(&[0x01, 0xFF]), Some(vec![0x02]));
        assert_eq!(prefix_upper_bound(&[0xFF, 0xFF]), None);
        assert_eq!(prefix_upper_bound(b""), None);
    }
}
