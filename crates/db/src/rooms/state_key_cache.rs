//! Short state keys in memory. A `(type, state_key)` pair is interned once and its short id
//! never changes or goes away, so a cached pair is always right; state lookups read them for
//! every event (a sliding sync room list of 500 rooms asks for thousands), and each was a
//! RocksDB read.

use std::{collections::HashMap, sync::Arc};

use parking_lot::Mutex;

/// Pairs kept at most; past this the cache starts over.
const MAX_PAIRS: usize = 1_000_000;

/// Both directions of the short state key table, as far as they were read.
#[derive(Debug, Default)]
pub(crate) struct StateKeyCache {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Short id to `(type, state_key)`.
    by_short: HashMap<u64, Arc<(String, String)>>,
    /// The stored key bytes of a pair to its short id.
    by_pair: HashMap<Vec<u8>, u64>,
}

impl StateKeyCache {
    pub fn pair(&self, short: u64) -> Option<Arc<(String, String)>> {
        self.inner.lock().by_short.get(&short).cloned()
    }

    pub fn short(&self, pair_bytes: &[u8]) -> Option<u64> {
        self.inner.lock().by_pair.get(pair_bytes).copied()
    }

    /// Remembers a pair read from the database (either direction).
    pub fn remember(&self, short: u64, pair_bytes: Vec<u8>, pair: Option<(String, String)>) {
        let mut inner = self.inner.lock();
        if inner.by_pair.len() >= MAX_PAIRS || inner.by_short.len() >= MAX_PAIRS {
            inner.by_pair.clear();
            inner.by_short.clear();
        }
        inner.by_pair.insert(pair_bytes, short);
        if let Some(pair) = pair {
            inner.by_short.insert(short, Arc::new(pair));
        }
    }
}
