//! A real Prometheus for tests: Debian's `prometheus` (installed by `scripts/setup`) started
//! on 127.0.0.1 with its own config and storage in a temp dir, scraping one target every
//! second, and stopped with its process when dropped.

use std::{
    net::SocketAddr,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;

/// A running Prometheus.
pub struct TestPrometheus {
    child: Child,
    _dir: tempfile::TempDir,
    base: String,
    http: reqwest::Client,
}

impl TestPrometheus {
    /// Starts Prometheus scraping `target`'s `/metrics` every second.
    pub fn start(target: SocketAddr) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("prometheus.yml");
        let yaml = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: accord\n    static_configs:\n      - targets: ['{target}']\n"
        );
        std::fs::write(&config, yaml).expect("write prometheus.yml");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|addr| addr.port())
            .expect("a free port");
        let child = Command::new("/usr/bin/prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus runs (scripts/setup installs Debian's prometheus)");
        Self {
            child,
            _dir: dir,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        }
    }

    async fn api(&self, path: &str) -> Option<Value> {
        let response = self.http.get(format!("{}{path}", self.base)).send().await.ok()?;
        response.json().await.ok()
    }

    /// Waits until the target's health is `up` (its first scrape succeeded); the target as
    /// Prometheus reports it.
    pub async fn wait_target_up(&self, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        let mut last = Value::Null;
        while Instant::now() < deadline {
            if let Some(answer) = self.api("/api/v1/targets").await {
                last = answer["data"]["activeTargets"][0].clone();
                if last["health"] == "up" {
                    return last;
                }
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        panic!("the target was not up within {within:?}: {last}");
    }

    /// The result vector of an instant query.
    pub async fn query(&self, promql: &str) -> Vec<Value> {
        let encoded: String = url::form_urlencoded::byte_serialize(promql.as_bytes()).collect();
        let answer = self
            .api(&format!("/api/v1/query?query={encoded}"))
            .await
            .expect("prometheus answers queries");
        answer["data"]["result"].as_array().cloned().unwrap_or_default()
    }
}

impl Drop for TestPrometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
