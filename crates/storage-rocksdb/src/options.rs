//! RocksDB tuning for Accord: a small server (a couple of cores, modest memory) running many
//! small tables, where every acknowledged write must survive a crash.

use rocksdb::{BlockBasedOptions, Cache, DBCompressionType, Options};

/// Block cache shared by every table, so memory stays bounded however many tables exist.
const BLOCK_CACHE_BYTES: usize = 64 << 20;
/// Cap on all memtables together; the per-table default (64 MiB each) would add up.
const TOTAL_MEMTABLE_BYTES: usize = 128 << 20;
/// Per-table memtable size. Memtable arenas grow in blocks of an eighth of this, so the 64 MiB
/// default grows each busy table's memory in 8 MiB steps; most of Accord's tables hold little.
const TABLE_MEMTABLE_BYTES: usize = 8 << 20;
/// With many column families the WAL is only recycled once each is flushed; this forces
/// flushes of rarely written tables so the WAL can't grow without bound.
const MAX_TOTAL_WAL_BYTES: u64 = 256 << 20;
/// Bounded so a large database doesn't exhaust the process's file descriptors.
const MAX_OPEN_FILES: i32 = 512;
/// Matches the small machines Accord targets; RocksDB uses it for flush and compaction threads.
const BACKGROUND_THREADS: i32 = 2;

/// Database and column family options; column families get clones, so they share one block
/// cache.
pub(crate) fn options() -> Options {
    let cache = Cache::new_lru_cache(BLOCK_CACHE_BYTES);
    let mut table = BlockBasedOptions::default();
    table.set_block_cache(&cache);
    // Full (not block-based) bloom filters: point reads of missing keys skip most SST files.
    table.set_bloom_filter(10.0, false);
    // Index and filter blocks count against the cache instead of growing outside it.
    table.set_cache_index_and_filter_blocks(true);
    table.set_pin_l0_filter_and_index_blocks_in_cache(true);

    let mut opts = Options::default();
    opts.create_if_missing(true);
    opts.create_missing_column_families(true);
    opts.increase_parallelism(BACKGROUND_THREADS);
    opts.set_max_background_jobs(BACKGROUND_THREADS);
    opts.set_max_open_files(MAX_OPEN_FILES);
    opts.set_db_write_buffer_size(TOTAL_MEMTABLE_BYTES);
    opts.set_write_buffer_size(TABLE_MEMTABLE_BYTES);
    opts.set_max_total_wal_size(MAX_TOTAL_WAL_BYTES);
    // RocksDB's own info LOG: a few small files are plenty for diagnosis.
    opts.set_keep_log_file_num(3);
    opts.set_max_log_file_size(8 << 20);
    opts.set_compression_type(DBCompressionType::Lz4);
    opts.set_block_based_table_factory(&table);
    opts
}
