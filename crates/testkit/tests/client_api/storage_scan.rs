//! Reading a stopped test server's storage back (`accord_testkit::storage_scan`).

use accord_testkit::TestServer;

pub use accord_testkit::storage_scan::files_containing;

/// `(table, rows)` for each table of the stopped `server` holding `needle`.
pub fn tables_containing(server: &TestServer, needle: &[u8]) -> Vec<(&'static str, usize)> {
    accord_testkit::storage_scan::tables_containing(&server.config, needle)
}
