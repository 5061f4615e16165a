//! Reading a stopped server's storage back, byte by byte, for the tests that show erased or
//! expired content is gone: every row of every table (decompressed, through the engine) and
//! every file under the data directory (as it lies on disk: write-ahead logs included).

use accord_testkit::TestServer;

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}

/// `(table, rows)` for each table holding `needle` in a key or a value.
pub fn tables_containing(server: &TestServer, needle: &[u8]) -> Vec<(&'static str, usize)> {
    let engine = accord_server::open_engine(&server.config).expect("engine");
    let mut found = Vec::new();
    for table in accord_db::tables::ALL {
        let rows = engine
            .iter_from(table.name, None, accord_db::Direction::Forward)
            .expect("iterate")
            .filter(|item| {
                let (key, value) = item.as_ref().expect("row");
                contains(key, needle) || contains(value, needle)
            })
            .count();
        if rows > 0 {
            found.push((table.name, rows));
        }
    }
    found
}

/// Every file under `dir` whose bytes contain `needle`.
pub fn files_containing(dir: &std::path::Path, needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_containing(&path, needle));
        } else if std::fs::read(&path).is_ok_and(|bytes| contains(&bytes, needle)) {
            found.push(path.display().to_string());
        }
    }
    found
}
