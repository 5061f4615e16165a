//! Test harness: real Accord servers started in-process on 127.0.0.1 (port 0) over RocksDB in
//! a temp dir, a small HTTP client for raw Matrix requests, user helpers, and a test CA.
//!
//! Tests never reach beyond loopback.

pub mod ca;
mod client;
pub mod directory;
mod faulty_engine;
pub mod prometheus;
mod rooms;
mod server;
pub mod storage_scan;

pub use client::{RawReply, Reply, TestUser, shared_secret_mac as client_mac};
pub use faulty_engine::{FaultSwitch, FaultyEngine};
pub use rooms::urlencode;
pub use server::TestServer;

/// The shared secret test servers accept for `/_synapse/admin/v1/register`.
pub const SHARED_SECRET: &str = "accord-test-shared-secret";

/// Installs the ring crypto provider for rustls once per process (reqwest and the server
/// both need one; tests may build either first).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    init_test_logging();
}

/// With `TEST_LOG` set (a tracing filter such as `info`), servers in tests log to stderr
/// (shown for failing tests, or with `--nocapture`).
fn init_test_logging() {
    if let Ok(filter) = std::env::var("TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    }
}
