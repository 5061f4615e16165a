//! Reading a stopped server's storage back, byte by byte, for the tests that show erased,
//! expired or purged content is gone: every row of every table (decompressed, through the
//! engine) and every file under a directory (as it lies on disk: write-ahead logs and the
//! search index included).

use std::path::Path;

use accord_core::Config;

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}

/// `(table, rows)` for each table of `config`'s database holding `needle` in a key or a
/// value. The server must be stopped (the database is opened here).
pub fn tables_containing(config: &Config, needle: &[u8]) -> Vec<(&'static str, usize)> {
    let engine = accord_server::open_engine(config).expect("open the database (is the server stopped?)");
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
pub fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
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
