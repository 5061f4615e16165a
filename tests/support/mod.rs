//! What the crash tests share: the `accord` binary on a database a test prepared in-process,
//! its log lines as they come (to kill it at a chosen point), and reading the stopped server's
//! storage back byte by byte.

use std::{
    io::BufRead as _,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

/// Writes a config for the binary on `config`'s server name and database, listening on a free
/// loopback port, with `extra` TOML appended; the file and the base URL.
pub fn binary_config(dir: &Path, config: &accord_core::Config, extra: &str) -> (PathBuf, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let file = dir.join("accord.toml");
    let toml = format!(
        "server_name = \"{}\"\n[database]\npath = {:?}\n[client_api]\nbind = \"127.0.0.1:{port}\"\n{extra}",
        config.server_name, config.database.path
    ) + &accord_core::config::RateLimitsConfig::unlimited_toml();
    std::fs::write(&file, toml).expect("write config");
    (file, format!("http://127.0.0.1:{port}"))
}

/// The binary on `config_file`, logging at `rust_log`; its log lines arrive on the receiver
/// and are echoed to the test's output.
pub fn serve(config_file: &Path, rust_log: &str) -> (Child, mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_accord"))
        .args(["serve", "--config"])
        .arg(config_file)
        .env("RUST_LOG", rust_log)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start accord");
    let stderr = child.stderr.take().expect("stderr");
    let (lines, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            // Echoed too: the test harness shows it when the test fails.
            eprintln!("accord: {line}");
            let _ = lines.send(line);
        }
    });
    (child, receiver)
}

/// Waits (up to 30 s) until the server answers `/versions`.
pub async fn wait_up(http: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while http
        .get(format!("{base}/_matrix/client/versions"))
        .send()
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "accord did not start within 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits (up to 2 minutes) for a log line containing `needle`.
pub fn wait_for_line(log: &mpsc::Receiver<String>, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let line = log
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("no log line with {needle:?}"));
        if line.contains(needle) {
            return;
        }
    }
}

/// `kill -9`, and reaps the process.
pub fn kill9(child: &mut Child) {
    child.kill().expect("kill -9");
    child.wait().expect("reap");
}

/// A clean stop (SIGTERM), waited for.
pub fn stop(child: &mut Child) {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill -TERM");
    child.wait().expect("reap");
}

pub use accord_testkit::storage_scan::files_containing;

/// Tables (read through the engine, so compressed blocks are seen decompressed) holding
/// `needle` in a key or value.
pub fn tables_containing(config: &accord_core::Config, needle: &[u8]) -> Vec<&'static str> {
    accord_testkit::storage_scan::tables_containing(config, needle)
        .into_iter()
        .map(|(table, _)| table)
        .collect()
}
