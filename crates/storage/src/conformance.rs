//! The engine conformance suite: behaviour every [`KvEngine`] must show, as plain functions each
//! engine crate calls from its own tests.
//!
//! Each check takes a fresh, empty directory and an opener that opens (or creates) an engine
//! there declaring exactly [`CONFORMANCE_TABLES`]. Checks panic with a message naming the
//! broken contract, so a failure reads as a test failure of the calling engine. This crate
//! stays free of `tempfile`; callers supply the directories.
//!
//! ```ignore
//! #[test]
//! fn conformance() {
//!     let root = tempfile::tempdir().unwrap();
//!     let mut n = 0;
//!     let mut fresh = || {
//!         n += 1;
//!         let dir = root.path().join(n.to_string());
//!         std::fs::create_dir(&dir).unwrap();
//!         dir
//!     };
//!     let open = |p: &Path| MyEngine::open(p, CONFORMANCE_TABLES);
//!     accord_storage::conformance::run_all(&mut fresh, &open);
//! }
//! ```

#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

use std::path::{Path, PathBuf};

use crate::codec::{KeyBuilder, key, prefix};
use crate::{Direction, Error, KvEngine, KvIter, Result, TableDef, WriteBatch};

/// First conformance table.
pub const ALPHA: &str = "alpha";
/// Second conformance table, for cross-table batches and isolation.
pub const BETA: &str = "beta";
/// A table name the conformance catalog never declares.
pub const UNDECLARED: &str = "conformance_undeclared";

/// The catalog every conformance opener must declare (and nothing else).
pub const CONFORMANCE_TABLES: &[TableDef] = &[
    TableDef {
        name: ALPHA,
        doc: "conformance: any key -> any value",
    },
    TableDef {
        name: BETA,
        doc: "conformance: any key -> any value",
    },
];

/// Opens an engine in a directory, declaring [`CONFORMANCE_TABLES`].
pub type Opener<'a, E> = &'a dyn Fn(&Path) -> Result<E>;

/// One conformance check: runs in the given fresh directory, panics on a broken contract.
pub type Check<E> = fn(&Path, Opener<'_, E>);

/// Runs every check, each in its own directory from `fresh_dir`.
pub fn run_all<E: KvEngine>(fresh_dir: &mut dyn FnMut() -> PathBuf, open: Opener<'_, E>) {
    let checks: &[(&str, Check<E>)] = &[
        ("point_ops", point_ops),
        ("unknown_table_is_an_error", unknown_table_is_an_error),
        ("batch_spans_tables", batch_spans_tables),
        (
            "batch_with_unknown_table_applies_nothing",
            batch_with_unknown_table_applies_nothing,
        ),
        ("later_op_wins_in_batch", later_op_wins_in_batch),
        ("iteration_follows_codec_order", iteration_follows_codec_order),
        ("iter_from_middle", iter_from_middle),
        ("iter_prefix_exact", iter_prefix_exact),
        ("iter_prefix_all_ff", iter_prefix_all_ff),
        ("empty_tables_iterate_to_nothing", empty_tables_iterate_to_nothing),
        ("concurrent_writers", concurrent_writers),
        ("reopen_keeps_data", reopen_keeps_data),
        (
            "deferred_write_then_sync_survives_reopen",
            deferred_write_then_sync_survives_reopen,
        ),
        ("second_open_is_in_use", second_open_is_in_use),
    ];
    for (name, check) in checks {
        let dir = fresh_dir();
        eprintln!("conformance: {name} in {}", dir.display());
        check(&dir, open);
    }
}

fn open_or_panic<E: KvEngine>(dir: &Path, open: Opener<'_, E>) -> E {
    match open(dir) {
        Ok(engine) => engine,
        Err(e) => panic!("opening engine at {} failed: {e}", dir.display()),
    }
}

fn get<E: KvEngine>(engine: &E, table: &'static str, k: &[u8]) -> Option<Vec<u8>> {
    engine
        .get(table, k)
        .unwrap_or_else(|e| panic!("get {table}[{k:?}] failed: {e}"))
}

fn write<E: KvEngine>(engine: &E, batch: WriteBatch) {
    engine.write(batch).unwrap_or_else(|e| panic!("write failed: {e}"));
}

fn put<E: KvEngine>(engine: &E, table: &'static str, k: &[u8], v: &[u8]) {
    let mut batch = WriteBatch::new();
    batch.put(table, k, v);
    write(engine, batch);
}

fn collect(iter: Result<KvIter<'_>>, what: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    let iter = iter.unwrap_or_else(|e| panic!("{what}: opening iterator failed: {e}"));
    iter.map(|item| item.unwrap_or_else(|e| panic!("{what}: iteration failed: {e}")))
        .collect()
}

fn keys_of(items: Vec<(Vec<u8>, Vec<u8>)>) -> Vec<Vec<u8>> {
    items.into_iter().map(|(k, _)| k).collect()
}

fn scan<E: KvEngine>(engine: &E, table: &'static str, from: Option<&[u8]>, dir: Direction) -> Vec<Vec<u8>> {
    keys_of(collect(
        engine.iter_from(table, from, dir),
        &format!("iter_from({table}, {from:?}, {dir:?})"),
    ))
}

fn scan_prefix<E: KvEngine>(engine: &E, table: &'static str, p: &[u8], dir: Direction) -> Vec<Vec<u8>> {
    keys_of(collect(
        engine.iter_prefix(table, p, dir),
        &format!("iter_prefix({table}, {p:?}, {dir:?})"),
    ))
}

fn reversed(mut v: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    v.reverse();
    v
}

/// Missing keys read as `None`; put, overwrite and delete round-trip; empty batches are fine.
pub fn point_ops<E: KvEngine>(dir: &Path, open: Opener<'_, E>) {
    let engine = open_or_panic(dir, open);
    let k = key(&["@a:x", "k"]);
    assert_eq!(get(&engine, ALPHA, &k), None, "get on a missing key must be None");

    put(&engine, ALPHA, &k, b"v1");
    assert_eq!(
        get(&engine, ALPHA, &k).as_deref(),
        Some(&b"v1"[..]),
        "put then get must round-trip"
    );
    assert_eq!(get(&engine, BETA, &k), None, "a put into alpha must not show in beta");

    put(&engine, ALPHA, &k, b"v2");
    assert_eq!(
        get(&engine, ALPHA, &k).as_deref(),
        Some(&b"v2"[..]),
        "a second put must overwrite"
    );

    put(&engine, ALPHA, b"", b"empty key");
    assert_eq!(
        get(&engine, ALPHA, b"").as_deref(),
        Some(&b"empty key"[..]),
        "the empty key is a valid key"
    );
    put(&engine, ALPHA, b"empty value", b"");
    assert_eq!(
        get(&engine, ALPHA, b"empty value").as_deref(),
        Some(&b""[..]),
        "an empty value is not absence"
    );

    let mut batch = WriteBatch::new();
    batch.delete(ALPHA, k.clone());
    write(&engine, batch);
    assert_eq!(get(&engine, ALPHA, &k), None, "delete must remove the key");

    let mut batch = WriteBatch::new();
    batch.delete(ALPHA, b"never existed".to_vec());
    write(&engine, batch);

    write(&engine, WriteBatch::new());
}

/// Reads and scans of a table outside the catalog fail with [`Error::UnknownTable`].
pub fn unknown_table_is_an_error<E: KvEngine>(dir: &Path, open: Opener<'_, E>) {
    let engine = open_or_panic(dir, open);
    match engine.get(UNDECLARED, b"k") {
        Err(Error::UnknownTable(name)) => assert_eq!(name, UNDECLARED),
        other => panic!("get on an undeclared table must be UnknownTable, got {other:?}"),
    }
    for direction in [Direction::Forward, Direction::Backward] {
        match engine.iter_from(UNDECLARED, None, direction) {
            Err(Error::UnknownTable(name)) => assert_eq!(name, UNDECLARED),
            Err(e) => panic!("iter_from on an undeclared table must be UnknownTable, got {e:?}"),
            Ok(_) => {
                panic!("iter_from on an undeclared table must be UnknownTable, got an iterator")
            }
        }
        match engine.iter_prefix(UNDECLARED, b"p", direction) {
            Err(Error::UnknownTable(name)) => assert_eq!(name, UNDECLARED),
            Err(e) => panic!("iter_prefix on an undeclared table must be UnknownTable, got {e:?}"),
            Ok(_) => {
                panic!("iter_prefix on an undeclared table must be UnknownTable, got an iterator")
            }
        }
    }
}

/// A batch with puts and deletes in both tables is fully visible after `write`.
pub fn batch_spans_tables<E: KvEngine>(dir: &Path, open: Opener<'_, E>) {
    let engine = open_or_panic(dir, open);
    put(&engine, BETA, b"old", b"gone soon");

    let mut batch = WriteBatch::new();
    batch.put(ALPHA, b"a1".to_vec(), b"1".to_vec());
    batch.put(BETA, b"b1".to_vec(), b"2".to_vec());
    batch.put(ALPHA, b"a2".to_vec(), b"3".to_vec());
    batch.delete(BETA, b"old".to_vec());
    write(&engine, batch);

    assert_eq!(
        get(&engine, ALPHA, b"a1").as_deref(),
        Some(&b"1"[..]),
        "batch put into alpha missing"
    );
    assert_eq!(
        get(&engine, ALPHA, b"a2").as_deref(),
        Some(&b"3"[..]),
        "second batch put into alpha missing"
    );
    assert_eq!(
        get(&engine, BETA, b"b1").as_deref(),
        Some(&b"2"[..]),
        "batch put into beta missing"
    );
    assert_eq!(get(&engine, BETA, b"old"), None, "batch delete in beta not applied");
    assert_eq!(get(&engine, BETA, b"a1"), None, "alpha's key leaked into beta");
}

/// A batch naming an undeclared table fails with [`Error::UnknownTable`] and applies none of
/// its ops, including the valid ones queued before the bad one.
pub fn batch_with_unknown_table_applies_nothing<E: KvEngine>(dir: &Path, open: Opener<'_, E>) {
    let engine = open_or_panic(dir, open);
    put(&engine, ALPHA, b"keep", b"original");

    let mut batch = WriteBatch::new();
    batch.put(ALPHA, b"new".to_vec(), b"x".to_vec());
    batch.put(BETA, b"new".to_vec(), b"y".to_vec());
    batch.delete(ALPHA, b"keep".to_vec());
    batch.put(ALPHA, b"keep".to_vec(), b"changed".to_vec());
    batch.put(UNDECLARED, b"k".to_vec(), b"v".to_vec());
    batch.put(BETA, b"after".to_vec(), b"z".to_vec());
    match engine.write(batch) {
        Err(Error::UnknownTable(name)) => {
            assert_eq!(name, UNDECLARED, "UnknownTable must name the bad table")
        }
        other => {
            panic!("a batch naming an undeclared table must fail with UnknownTable, got {other:?}")
        }
    }

    assert_eq!(
        get(&engine, ALPHA, b"new"),
        None,
        "failed batch: earlier put into alpha was applied"
    );
    assert_eq!(
        get(&engine, BETA, b"new"),
        None,
        "failed batch: earlier put into beta was applied"
    );
    assert_eq!(
        get(&engine, BETA, b"after"),
        None,
        "failed batch: later put into beta was applied"
    );
    assert_eq!(
        get(&engine, ALPHA, b"keep").as_deref(),
        Some(&b"original"[..]),
        "failed batch: earlier delete/put of an existing key was applied"
    );

    let mut batch = WriteBatch::new();
    batch.delete(UNDECLARED, b"k".to_vec());
    assert!(
        matches!(engine.write(batch), Err(Error::UnknownTable(UNDECLARED))),
        "a delete in an undeclared table must fail with UnknownTable"
    );
}

/// Within one batch, the later op on a key wins.
pub fn later_op_wins_in_batch<E: KvEngine>(dir: &Path, open: Opener<'_, E>) {
    let engine = open_or_panic(dir, open);
    put(&engine, ALPHA, b"existing", b"before");

    let mut batch = WriteBatch::new();
    batch.put(ALPHA, b"pd".to_vec(), b"v".to_vec());
    batch.delete(ALPHA, b"pd".to_vec());
    batch.delete(ALPHA, b"dp".to_vec());
    batch.put(ALPHA, b"dp".to_vec(), b"v".to_vec());
    batch.put(ALPHA, b"pp".to_vec(), b"first".to_vec());
    batch.put(ALPHA, b"pp".to_vec(), b"second".to_vec());
    batch.delete(ALPHA, b"existing".to_vec());
    batch.put(ALPHA, b"existing".to_vec(), b"after".to_vec());
    write(&engine, batch);

    assert_eq!(
        get(&engine, ALPHA, b"pd"),
        None,
        "put then delete in one batch must leave the key absent"
    );
    assert_eq!(
        get(&engine, ALPHA, b"dp").as_deref(),
        Some(&b"v"[..]),
        "delete then put must leave it present"
    );
    assert_eq!(
        get(&engine, ALPHA, b"pp").as_deref(),
        Some(&b"second"[..]),
        "the later put must win"
    );
    assert_eq!(
        get(&engine, ALPHA, b"existing").as_deref(),
        Some(&b"after"[..]),
        "delete then put of an existing key"
    );

    let mut batch = WriteBatch::new();
    batch.put(ALPHA, b"existing".to_vec(), b"again".to_vec());
    batch.delete(ALPHA, b"existing".to_vec());
    write(&engine, batch);
    assert_eq!(
        get(&engine, ALPHA, b"existing"),
        None,
        "put then delete of an existing key must remove it"
    );
}

/// The u64 values the ordering checks insert, in numeric order.
const ORDERED_U64S: [u64; 6] = [0, 1, 255, 256, 65536, u64::MAX];

fn n_key(n: u64) -> Vec<u8> {
    KeyBuilder::new().str("n").u64(n).build()
}

/// Inserts [`ORDERED_U64S`] as `("n", u64)` keys into alpha in shuffled order, plus noise in
/// beta that would sort among them, and returns the keys in numeric order.
fn insert_ordered<E: KvEngine>(engine: &E) -> Vec<Vec<u8>> {
    let shuffled = [256, u64::MAX, 0, 65536, 1, 255];
    for n in shuffled {
        put(engine, ALPHA, &n_key(n), &n.to_be_bytes());
    }
    put(engine, BETA, &n_key(2), b"noise");
    put(engine, BETA, &n_key(300), b"noise");
    ORDERED_U64S.iter().map(|&n| n_key(n)).collect()
}

/// Full scans follow the key codec's order: numeric for u64 parts, reversed when backward.
pub fn iteration_follows_codec_order<E: KvEngine>(dir: &Path, open: Opener<'_, E>) {
    let engine = open_or_panic(dir, open);
    let ordered = insert_ordered(&engine);

    let forward = collect(engine.iter_from(ALPHA, None, Direction::Forward), "forward scan");
    let forward_keys: Vec<Vec<u8>> = forward.iter().map(|(k, _)| k.clone()).collect();
    assert_eq!(
        forward_keys, ordered,
        "forward scan must be in numeric order of the u64 part"
    );
    for ((_, v), n) in forward.iter().zip(ORDERED_U64S) {
        assert_eq!(
            v,
            &n.to_be_bytes(),
            "forward scan returned the wrong value for key n={n}"
        );
    }

    let backward = scan(&engine, ALPHA, None, Direction::Backward);
    assert_eq!(backward, reversed(ordered), "backward scan must be the exact reverse");
}

/// `iter_from` starts at `from` inclusive (forward: smallest key `>= from`; backward: greatest
/// key `<= from`), whether or not `from` exists.
pub fn iter_from_middle<E: KvEngine>(dir: &Path, open: Opener<'_, E>) {
    let engine = open_or_panic(dir, open);
    let all = insert_ordered(&engine);
    let keys = |ns: &[u64]| ns.iter().map(|&n| n_key(n)).collect::<Vec<_>>();

    assert_eq!(
        scan(&engine, ALPHA, Some(&n_key(256)), Direction::Forward),
        keys(&[256, 65536, u64::MAX]),
        "forward from an existing key must include it"
    );
    assert_eq!(
        scan(&engine, ALPHA, Some(&n_key(300)), Direction::Forward),
        keys(&[65536, u64::MAX]),
        "forward from a missing key must start at the next greater key"
    );
    assert_eq!(
        scan(&engine, ALPHA, Some(&n_key(256)), Direction::Backward),
        keys(&[256, 255, 1, 0]),
        "backward from an existing key must include it"
    );
    assert_eq!(
        scan(&engine, ALPHA, Some(&n_key(300)), Direction::Backward),
        keys(&[256, 255, 1, 0]),
        "backward from a missing key must start at the greatest smaller key"
    );
    assert_eq!(
        scan(&engine, ALPHA, Some(b"z"), Direction::Backward),
        reversed(all.clone()),
        "backward from beyond the last key must yield everything"
    );
    assert_eq!(
        scan(&engine, ALPHA, Some(b"z"), Direction::Forward),
        Vec::<Vec<u8>>::new(),
        "forward from beyond the end"
    );
    assert_eq!(
        scan(&engine, ALPHA, Some(b"a"), Direction::Forward),
        all,
        "forward from before the first key"
    );
    assert_eq!(
        scan(&engine, ALPHA, Some(b"a"), Direction::Backward),
        Vec::<Vec<u8>>::new(),
        "backward from before the start"
    );
    assert_eq!(
        scan(&engine, ALPHA, Some(b""), Direction::Backward),
        Vec::<Vec<u8>>::new(),
        "backward from the empty key"
    );
}

/// `iter_prefix` yields exactly the keys starting with the prefix, in both directions, even
/// with neighbours on both sides (`"@a:x"` vs `"@a:xy"`, keys at the prefix's upper bound).
pub fn iter_prefix_exact<E: KvEngine>(dir: &Path, open: Opener<'_, E>) {
    let engine = open_or_panic(dir, open);
    let user = |u: &str, n: u64| KeyBuilder::new().str(u).u64(n).build();
    let inserted = vec![
        user("@a:w", 9),
        key(&["@a:x"]),     // the bare first part: no separator, so outside the prefix
        key(&["@a:x", ""]), // "@a:x" 0xFF: the prefix itself, its first key
        user("@a:x", 0),
        user("@a:x", 7),
        user("@a:x", u64::MAX),
        user("@a:xy", 0), // longer string sharing the bytes "@a:x"
        key(&["@a:y"]),   // exactly prefix_upper_bound("@a:x" 0xFF)
        user("@a:y", 0),
        user("@b:x", 1),
    ];
    for k in &inserted {
        put(&engine, ALPHA, k, b"v");
    }
    put(&engine, BETA, &user("@a:x", 3), b"other table");

    let p = prefix(&["@a:x"]);
    let expected = vec![
        key(&["@a:x", ""]),
        user("@a:x", 0),
        user("@a:x", 7),
        user("@a:x", u64::MAX),
    ];
    assert_eq!(
        scan_prefix(&engine, ALPHA, &p, Direction::Forward),
        expected,
        "forward prefix scan of \"@a:x\""
    );
    assert_eq!(
        scan_prefix(&engine, ALPHA, &p, Direction::Backward),
        reversed(expected),
        "backward prefix scan of \"@a:x\""
    );

    let p = KeyBuilder::new().str("@a:x").u64(7).prefix();
    assert_eq!(
        scan_prefix(&engine, ALPHA, &p, Direction::Forward),
        Vec::<Vec<u8>>::new(),
        "prefix of a full key"
    );

    for (p, what) in [
        (prefix(&["@a:q"]), "between keys"),
        (prefix(&["@0"]), "before all"),
        (prefix(&["@z"]), "after all"),
    ] {
        for direction in [Direction::Forward, Direction::Backward] {
            assert_eq!(
                scan_prefix(&engine, ALPHA, &p, direction),
                Vec::<Vec<u8>>::new(),
                "prefix matching nothing ({what}) must yield nothing, {direction:?}"
            );
        }
    }

    let mut everything = inserted.clone();
    everything.sort();
    assert_eq!(
        scan_prefix(&engine, ALPHA, b"", Direction::Forward),
        everything,
        "empty prefix forward"
    );
    assert_eq!(
        scan_prefix(&engine, ALPHA, b"", Direction::Backward),
        reversed(everything),
        "empty prefix backward"
    );

    let raw = b"@a:x";
    let mut expected: Vec<Vec<u8>> = inserted.iter().filter(|k| k.starts_with(raw)).cloned().collect();
    expected.sort();
    assert_eq!(
        scan_prefix(&engine, ALPHA, raw, Direction::Forward),
        expected,
        "raw byte prefix forward"
    );
    assert_eq!(
        scan_prefix(&engine, ALPHA, raw, Direction::Backward),
        reversed(expected),
        "raw byte prefix backward"
    );
}

/// Prefixes made of `0xFF` bytes, which have no upper bound, scan correctly both ways.
pub fn iter_prefix_all_ff<E: KvEngine>(dir: &Path, open: Opener<'_, E>) {
    let engine = open_or_panic(dir, open);
    let inserted: Vec<Vec<u8>> = vec![
        vec![0xFE],
        vec![0xFE, 0xFF],
        vec![0xFF],
        vec![0xFF, 0x00],
        vec![0xFF, 0xFE, 0xFF],
        vec![0xFF, 0xFF],
        vec![0xFF, 0xFF, 0x01],
        vec![0xFF, 0xFF, 0xFF],
    ];
    for k in &inserted {
        put(&engine, ALPHA, k, b"v");
    }
    for p in [vec![0xFF], vec![0xFF, 0xFF], vec![0xFF, 0xFF, 0xFF, 0xFF]] {
        let mut expected: Vec<Vec<u8>> = inserted.iter().filter(|k| k.starts_with(&p)).cloned().collect();
        expected.sort();
        assert_eq!(
            scan_prefix(&engine, ALPHA, &p, Direction::Forward),
            expected,
            "forward scan of prefix {p:02X?}"
        );
        assert_eq!(
            scan_prefix(&engine, ALPHA, &p, Direction::Backward),
            reversed(expected),
            "backward scan of prefix {p:02X?}"
        );
    }
}

/// Scans of empty tables (never written, or emptied by deletes) yield nothing.
pub fn empty_tables_iterate_to_nothing<E: KvEngine>(dir: &Path, open: Opener<'_, E>) {
    let engine = open_or_panic(dir, open);
    let check = |engine: &E, when: &str| {
        for table in [ALPHA, BETA] {
            for direction in [Direction::Forward, Direction::Backward] {
                let none = Vec::<Vec<u8>>::new();
                assert_eq!(
                    scan(engine, table, None, direction),
                    none,
                    "{when}: full scan of {table} {direction:?}"
                );
                assert_eq!(
                    scan(engine, table, Some(b"m"), direction),
                    none,
                    "{when}: scan from of {table} {direction:?}"
                );
                assert_eq!(
                    scan_prefix(engine, table, b"m", direction),
                    none,
                    "{when}: prefix scan of {table} {direction:?}"
                );
                assert_eq!(
                    scan_prefix(engine, table, b"", direction),
                    none,
                    "{when}: empty prefix of {table} {direction:?}"
                );
            }
        }
    };
    check(&engine, "fresh engine");

    put(&engine, ALPHA, b"m", b"v");
    put(&engine, BETA, b"m1", b"v");
    let mut batch = WriteBatch::new();
    batch.delete(ALPHA, b"m".to_vec());
    batch.delete(BETA, b"m1".to_vec());
    write(&engine, batch);
    check(&engine, "after deleting every key");
}

/// Batches written from several threads at once are all applied (the engine is `Sync`).
pub fn concurrent_writers<E: KvEngine>(dir: &Path, open: Opener<'_, E>) {
    const THREADS: u64 = 4;
    const BATCHES: u64 = 20;
    let engine = open_or_panic(dir, open);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let engine = &engine;
            s.spawn(move || {
                for i in 0..BATCHES {
                    let k = KeyBuilder::new().u64(t).u64(i).build();
                    let mut batch = WriteBatch::new();
                    batch.put(ALPHA, k.clone(), i.to_be_bytes().to_vec());
                    batch.put(BETA, k, t.to_be_bytes().to_vec());
                    write(engine, batch);
                }
            });
        }
    });
    for table in [ALPHA, BETA] {
        let count = scan(&engine, table, None, Direction::Forward).len();
        assert_eq!(count as u64, THREADS * BATCHES, "concurrent writes lost in {table}");
    }
}

/// Data written before the engine is dropped is there after reopening the same directory.
pub fn reopen_keeps_data<E: KvEngine>(dir: &Path, open: Opener<'_, E>) {
    {
        let engine = open_or_panic(dir, open);
        let mut batch = WriteBatch::new();
        batch.put(ALPHA, key(&["a", "1"]), b"one".to_vec());
        batch.put(ALPHA, key(&["a", "2"]), b"two".to_vec());
        batch.put(BETA, key(&["b"]), b"bee".to_vec());
        batch.put(BETA, key(&["deleted"]), b"x".to_vec());
        write(&engine, batch);
        let mut batch = WriteBatch::new();
        batch.delete(BETA, key(&["deleted"]));
        batch.put(ALPHA, key(&["a", "2"]), b"TWO".to_vec());
        write(&engine, batch);
    }
    let engine = open_or_panic(dir, open);
    assert_eq!(
        get(&engine, ALPHA, &key(&["a", "1"])).as_deref(),
        Some(&b"one"[..]),
        "reopen lost alpha a/1"
    );
    assert_eq!(
        get(&engine, ALPHA, &key(&["a", "2"])).as_deref(),
        Some(&b"TWO"[..]),
        "reopen lost the overwrite"
    );
    assert_eq!(
        get(&engine, BETA, &key(&["b"])).as_deref(),
        Some(&b"bee"[..]),
        "reopen lost beta b"
    );
    assert_eq!(
        get(&engine, BETA, &key(&["deleted"])),
        None,
        "reopen resurrected a deleted key"
    );
    assert_eq!(
        scan_prefix(&engine, ALPHA, &prefix(&["a"]), Direction::Forward),
        vec![key(&["a", "1"]), key(&["a", "2"])],
        "scan after reopen"
    );
    engine.flush().unwrap_or_else(|e| panic!("flush failed: {e}"));
    drop(engine);

    let engine = open_or_panic(dir, open);
    assert_eq!(
        get(&engine, BETA, &key(&["b"])).as_deref(),
        Some(&b"bee"[..]),
        "reopen after flush lost beta b"
    );
}

/// A second open of a directory that is still open fails with [`Error::InUse`]; once the
/// first engine is dropped, opening works again.
pub fn second_open_is_in_use<E: KvEngine>(dir: &Path, open: Opener<'_, E>) {
    let first = open_or_panic(dir, open);
    put(&first, ALPHA, b"k", b"v");
    match open(dir) {
        Err(Error::InUse { .. }) => {}
        Err(e) => panic!("second open of a directory in use must fail with InUse, got {e:?}"),
        Ok(_) => panic!("second open of a directory in use must fail with InUse, but it opened"),
    }
    assert_eq!(
        get(&first, ALPHA, b"k").as_deref(),
        Some(&b"v"[..]),
        "failed second open disturbed the first"
    );
    drop(first);

    let again = open_or_panic(dir, open);
    assert_eq!(
        get(&again, ALPHA, b"k").as_deref(),
        Some(&b"v"[..]),
        "reopen after the lock was released"
    );
}

/// The suite run against a minimal in-memory engine: checks the suite itself and the trait's
/// default `iter_prefix`, which engines without native bounds rely on.
/// A deferred write is visible at once, and after `sync` survives a reopen, in order with
/// ordinary writes.
pub fn deferred_write_then_sync_survives_reopen<E: KvEngine>(dir: &Path, open: Opener<'_, E>) {
    {
        let engine = open_or_panic(dir, open);
        let mut batch = WriteBatch::new();
        batch.put(ALPHA, b"deferred".to_vec(), b"1".to_vec());
        batch.put(BETA, b"deferred".to_vec(), b"2".to_vec());
        engine.write_deferred(batch).expect("deferred write");
        assert_eq!(
            engine.get(ALPHA, b"deferred").expect("get"),
            Some(b"1".to_vec()),
            "visible before sync"
        );
        let mut batch = WriteBatch::new();
        batch.delete(ALPHA, b"deferred".to_vec());
        engine.write_deferred(batch).expect("deferred delete");
        engine.sync().expect("sync");
    }
    let engine = open_or_panic(dir, open);
    assert_eq!(
        engine.get(ALPHA, b"deferred").expect("get"),
        None,
        "later deferred delete applied"
    );
    assert_eq!(
        engine.get(BETA, b"deferred").expect("get"),
        Some(b"2".to_vec()),
        "synced write survives"
    );
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use super::*;

    type Tables = BTreeMap<&'static str, BTreeMap<Vec<u8>, Vec<u8>>>;

    /// One path's "disk": its tables, and whether an engine has it open.
    type Disk = (Arc<Mutex<Tables>>, bool);

    /// Stands in for the filesystem.
    static DISKS: Mutex<BTreeMap<PathBuf, Disk>> = Mutex::new(BTreeMap::new());

    struct MemEngine {
        path: PathBuf,
        tables: Arc<Mutex<Tables>>,
        /// Items yielded by `iter_from` iterators, to measure how far scans step.
        steps: Arc<AtomicUsize>,
    }

    impl MemEngine {
        fn open(path: &Path) -> Result<Self> {
            let mut disks = DISKS.lock().unwrap();
            let (tables, open) = disks.entry(path.to_path_buf()).or_insert_with(|| {
                let tables = CONFORMANCE_TABLES.iter().map(|t| (t.name, BTreeMap::new())).collect();
                (Arc::new(Mutex::new(tables)), false)
            });
            if *open {
                return Err(Error::InUse {
                    path: path.to_path_buf(),
                });
            }
            *open = true;
            Ok(Self {
                path: path.to_path_buf(),
                tables: Arc::clone(tables),
                steps: Arc::default(),
            })
        }
    }

    impl Drop for MemEngine {
        fn drop(&mut self) {
            if let Some((_, open)) = DISKS.lock().unwrap().get_mut(&self.path) {
                *open = false;
            }
        }
    }

    impl KvEngine for MemEngine {
        fn get(&self, table: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>> {
            let tables = self.tables.lock().unwrap();
            let t = tables.get(table).ok_or(Error::UnknownTable(table))?;
            Ok(t.get(key).cloned())
        }

        fn write(&self, batch: WriteBatch) -> Result<()> {
            let mut tables = self.tables.lock().unwrap();
            for op in batch.ops() {
                let (crate::BatchOp::Put { table, .. } | crate::BatchOp::Delete { table, .. }) = op;
                if !tables.contains_key(table) {
                    return Err(Error::UnknownTable(table));
                }
            }
            for op in batch.ops() {
                match op {
                    crate::BatchOp::Put { table, key, value } => {
                        tables.get_mut(table).unwrap().insert(key.clone(), value.clone());
                    }
                    crate::BatchOp::Delete { table, key } => {
                        tables.get_mut(table).unwrap().remove(key);
                    }
                }
            }
            Ok(())
        }

        fn iter_from<'a>(
            &'a self,
            table: &'static str,
            from: Option<&[u8]>,
            direction: Direction,
        ) -> Result<KvIter<'a>> {
            let tables = self.tables.lock().unwrap();
            let t = tables.get(table).ok_or(Error::UnknownTable(table))?;
            let items: Vec<_> = match (direction, from) {
                (Direction::Forward, None) => t.iter().collect(),
                (Direction::Forward, Some(f)) => t.range(f.to_vec()..).collect(),
                (Direction::Backward, None) => t.iter().rev().collect(),
                (Direction::Backward, Some(f)) => t.range(..=f.to_vec()).rev().collect(),
            };
            let owned: Vec<_> = items.into_iter().map(|(k, v)| Ok((k.clone(), v.clone()))).collect();
            let steps = Arc::clone(&self.steps);
            Ok(Box::new(owned.into_iter().inspect(move |_| {
                steps.fetch_add(1, Ordering::Relaxed);
            })))
        }

        fn flush(&self) -> Result<()> {
            Ok(())
        }
    }

    #[test]
    fn in_memory_engine_passes_the_suite() {
        static DIRS: AtomicUsize = AtomicUsize::new(0);
        let mut fresh = || PathBuf::from(format!("/mem/{}", DIRS.fetch_add(1, Ordering::Relaxed)));
        run_all(&mut fresh, &MemEngine::open);
    }

    #[test]
    fn default_backward_prefix_scan_stops_below_the_prefix() {
        let engine = MemEngine::open(Path::new("/mem/stop-early")).unwrap();
        let mut batch = WriteBatch::new();
        for n in 0..100u64 {
            batch.put(ALPHA, KeyBuilder::new().str("a").u64(n).build(), b"v".to_vec());
        }
        write(&engine, batch);
        engine.steps.store(0, Ordering::Relaxed);
        // No key has prefix "b": the scan must stop at the first key below the prefix rather
        // than step through all of "a"'s keys.
        let found = engine
            .iter_prefix(ALPHA, &prefix(&["b"]), Direction::Backward)
            .unwrap()
            .count();
        assert_eq!(found, 0);
        assert_eq!(engine.steps.load(Ordering::Relaxed), 1);
    }
}
