//! Runs the engine conformance suite against RocksDB, plus RocksDB-specific opening behaviour:
//! dropped-table tombstones, undeclared column families, unusable paths.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use accord_storage::conformance::{self, CONFORMANCE_TABLES, Check, Opener};
use accord_storage::{Direction, Error, KvEngine, Result, TableDef, WriteBatch};
use accord_storage_rocksdb::RocksEngine;

fn open(path: &Path) -> Result<RocksEngine> {
    RocksEngine::open(path, CONFORMANCE_TABLES, &[])
}

const OPEN: Opener<'static, RocksEngine> = &open;

/// Runs one conformance check in a fresh temporary directory.
fn run(check: Check<RocksEngine>) {
    let dir = tempfile::tempdir().expect("temp dir");
    check(dir.path(), OPEN);
}

#[test]
fn run_all_in_fresh_dirs() {
    let root = tempfile::tempdir().expect("temp dir");
    let mut n = 0;
    let mut fresh = || -> PathBuf {
        n += 1;
        let dir = root.path().join(format!("check-{n}"));
        std::fs::create_dir(&dir).expect("create check dir");
        dir
    };
    conformance::run_all(&mut fresh, OPEN);
}

// The checks one by one too, so a failure names the broken contract in the test list.

#[test]
fn point_ops() {
    run(conformance::point_ops);
}

#[test]
fn unknown_table_is_an_error() {
    run(conformance::unknown_table_is_an_error);
}

#[test]
fn batch_spans_tables() {
    run(conformance::batch_spans_tables);
}

#[test]
fn batch_with_unknown_table_applies_nothing() {
    run(conformance::batch_with_unknown_table_applies_nothing);
}

#[test]
fn later_op_wins_in_batch() {
    run(conformance::later_op_wins_in_batch);
}

#[test]
fn iteration_follows_codec_order() {
    run(conformance::iteration_follows_codec_order);
}

#[test]
fn iter_from_middle() {
    run(conformance::iter_from_middle);
}

#[test]
fn iter_prefix_exact() {
    run(conformance::iter_prefix_exact);
}

#[test]
fn iter_prefix_all_ff() {
    run(conformance::iter_prefix_all_ff);
}

#[test]
fn empty_tables_iterate_to_nothing() {
    run(conformance::empty_tables_iterate_to_nothing);
}

#[test]
fn concurrent_writers() {
    run(conformance::concurrent_writers);
}

#[test]
fn reopen_keeps_data() {
    run(conformance::reopen_keeps_data);
}

#[test]
fn second_open_is_in_use() {
    run(conformance::second_open_is_in_use);
}

const OLD: &str = "old_table";
const KEPT: &str = "kept_table";

fn catalog_v1() -> [TableDef; 2] {
    [
        TableDef {
            name: OLD,
            doc: "test: old table",
        },
        TableDef {
            name: KEPT,
            doc: "test: kept table",
        },
    ]
}

fn put(engine: &RocksEngine, table: &'static str, key: &[u8], value: &[u8]) {
    let mut batch = WriteBatch::new();
    batch.put(table, key, value);
    engine.write(batch).expect("write");
}

fn column_families(path: &Path) -> Vec<String> {
    let mut cfs = rocksdb::DB::list_cf(&rocksdb::Options::default(), path).expect("list_cf");
    cfs.sort();
    cfs
}

#[test]
fn reopen_with_dropped_table_removes_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let engine = RocksEngine::open(dir.path(), &catalog_v1(), &[]).expect("open v1");
        put(&engine, OLD, b"k", b"old value");
        put(&engine, KEPT, b"k", b"kept value");
    }

    let v2 = [TableDef {
        name: KEPT,
        doc: "test: kept table",
    }];
    {
        let engine = RocksEngine::open(dir.path(), &v2, &[OLD]).expect("open v2 with tombstone");
        assert_eq!(
            engine.get(KEPT, b"k").expect("get").as_deref(),
            Some(&b"kept value"[..])
        );
        assert!(matches!(engine.get(OLD, b"k"), Err(Error::UnknownTable(OLD))));
    }
    assert_eq!(column_families(dir.path()), vec!["default".to_owned(), KEPT.to_owned()]);

    // Opening again with the tombstone still listed (the table is already gone) is fine.
    let engine = RocksEngine::open(dir.path(), &v2, &[OLD]).expect("reopen v2");
    assert_eq!(
        engine.get(KEPT, b"k").expect("get").as_deref(),
        Some(&b"kept value"[..])
    );
}

#[test]
fn undeclared_column_family_is_kept_but_not_accessible() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let engine = RocksEngine::open(dir.path(), &catalog_v1(), &[]).expect("open v1");
        put(&engine, OLD, b"k", b"old value");
    }

    // An older catalog without OLD and without a tombstone: OLD is opened but refused.
    let v0 = [TableDef {
        name: KEPT,
        doc: "test: kept table",
    }];
    {
        let engine = RocksEngine::open(dir.path(), &v0, &[]).expect("open without the table");
        assert!(matches!(engine.get(OLD, b"k"), Err(Error::UnknownTable(OLD))));
        let mut batch = WriteBatch::new();
        batch.put(OLD, b"k".to_vec(), b"overwritten".to_vec());
        assert!(matches!(engine.write(batch), Err(Error::UnknownTable(OLD))));
    }

    let engine = RocksEngine::open(dir.path(), &catalog_v1(), &[]).expect("reopen v1");
    assert_eq!(engine.get(OLD, b"k").expect("get").as_deref(), Some(&b"old value"[..]));
}

#[test]
fn conflicting_catalogs_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let twice = [TableDef { name: KEPT, doc: "a" }, TableDef { name: KEPT, doc: "b" }];
    assert!(matches!(
        RocksEngine::open(dir.path(), &twice, &[]),
        Err(Error::Engine(_))
    ));
    assert!(matches!(
        RocksEngine::open(dir.path(), &catalog_v1(), &[OLD]),
        Err(Error::Engine(_))
    ));
}

#[test]
fn missing_directories_are_created() {
    let dir = tempfile::tempdir().expect("temp dir");
    let nested = dir.path().join("a").join("b");
    let engine = open(&nested).expect("open nested");
    put(&engine, conformance::ALPHA, b"k", b"v");
    assert!(nested.join("CURRENT").exists());
}

#[test]
fn unusable_path_is_a_path_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"not a directory").expect("write file");
    match open(&file.join("db")) {
        Err(Error::Path { path, reason }) => {
            assert_eq!(path, file.join("db"));
            assert!(!reason.is_empty());
        }
        Err(e) => panic!("expected Error::Path, got {e:?}"),
        Ok(_) => panic!("expected Error::Path, but it opened"),
    }
}

#[test]
fn in_use_error_names_the_path() {
    let dir = tempfile::tempdir().expect("temp dir");
    let _first = open(dir.path()).expect("first open");
    match open(dir.path()) {
        Err(Error::InUse { path }) => assert_eq!(path, dir.path()),
        Err(e) => panic!("expected Error::InUse, got {e:?}"),
        Ok(_) => panic!("expected Error::InUse, but it opened"),
    }
}

#[test]
fn large_scan_after_flush_is_ordered_both_ways() {
    let dir = tempfile::tempdir().expect("temp dir");
    let engine = open(dir.path()).expect("open");
    let key = |n: u64| accord_storage::codec::KeyBuilder::new().str("r").u64(n).build();
    let mut batch = WriteBatch::new();
    for n in (0..2000u64).rev() {
        batch.put(conformance::ALPHA, key(n * 3), n.to_be_bytes().to_vec());
    }
    engine.write(batch).expect("write");
    engine.flush().expect("flush");
    // Overwrites and deletes on top of the flushed SST, still in the memtable.
    let mut batch = WriteBatch::new();
    for n in 0..2000u64 {
        if n % 2 == 0 {
            batch.delete(conformance::ALPHA, key(n * 3));
        }
    }
    engine.write(batch).expect("write");

    let prefix = accord_storage::codec::prefix(&["r"]);
    let forward: Vec<u64> = engine
        .iter_prefix(conformance::ALPHA, &prefix, Direction::Forward)
        .expect("iter")
        .map(|item| u64::from_be_bytes(item.expect("item").1.try_into().expect("8 bytes")))
        .collect();
    let expected: Vec<u64> = (0..2000).filter(|n| n % 2 == 1).collect();
    assert_eq!(forward, expected);

    let backward: Vec<u64> = engine
        .iter_from(conformance::ALPHA, Some(&key(3000)), Direction::Backward)
        .expect("iter")
        .map(|item| u64::from_be_bytes(item.expect("item").1.try_into().expect("8 bytes")))
        .collect();
    let expected: Vec<u64> = (0..=1000).rev().filter(|n| n % 2 == 1).collect();
    assert_eq!(backward, expected);
}
