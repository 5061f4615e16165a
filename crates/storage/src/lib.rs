//! Accord's storage abstraction: a small synchronous key-value engine trait, the tuple key
//! codec every table uses, and the conformance suite every engine must pass.
//!
//! Invariant: this crate names no database engine (no `rocksdb` here) and no web or network
//! crate. Engines live in their own crates (`accord-storage-rocksdb`) and implement [`KvEngine`].

pub mod codec;
pub mod conformance;
mod engine;
mod error;

pub use engine::{BatchOp, Direction, KvEngine, KvIter, TableDef, TableFigures, WriteBatch, prefix_upper_bound};
pub use error::{Error, Result};
