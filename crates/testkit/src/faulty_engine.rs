//! A storage engine that fails on command: wraps the real engine and, once armed, makes every
//! fsync fail after the data reached the engine (the worst case: written, visible to reads, not
//! durable), so tests can check that nothing unsynced is acknowledged or shown.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use accord_storage::{Direction, Error, KvEngine, KvIter, Result, WriteBatch};

/// Arms the fault.
#[derive(Clone, Debug, Default)]
pub struct FaultSwitch(Arc<AtomicBool>);

impl FaultSwitch {
    /// From now on every fsync (and every synced write, after applying it) fails.
    pub fn fail_syncs(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    fn armed(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// The real engine behind a [`FaultSwitch`].
pub struct FaultyEngine {
    inner: Arc<dyn KvEngine>,
    switch: FaultSwitch,
}

impl FaultyEngine {
    /// Wraps `inner`; returns the engine and its switch.
    pub fn wrap(inner: Arc<dyn KvEngine>) -> (Arc<dyn KvEngine>, FaultSwitch) {
        let switch = FaultSwitch::default();
        let engine = Arc::new(Self {
            inner,
            switch: switch.clone(),
        });
        (engine, switch)
    }

    fn injected() -> Error {
        Error::Engine("injected fault: fsync failed (EIO)".to_owned())
    }
}

impl KvEngine for FaultyEngine {
    fn get(&self, table: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.inner.get(table, key)
    }

    fn write(&self, batch: WriteBatch) -> Result<()> {
        if self.switch.armed() {
            self.inner.write_deferred(batch)?;
            return Err(Self::injected());
        }
        self.inner.write(batch)
    }

    fn write_deferred(&self, batch: WriteBatch) -> Result<()> {
        self.inner.write_deferred(batch)
    }

    fn sync(&self) -> Result<()> {
        if self.switch.armed() {
            return Err(Self::injected());
        }
        self.inner.sync()
    }

    fn iter_from<'a>(&'a self, table: &'static str, from: Option<&[u8]>, direction: Direction) -> Result<KvIter<'a>> {
        self.inner.iter_from(table, from, direction)
    }

    fn flush(&self) -> Result<()> {
        self.inner.flush()
    }
}
