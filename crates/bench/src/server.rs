//! The server under test: an `accord` process on a free loopback port with a temp database.

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// A running `accord serve`.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Starts `binary` with open registration and waits until it answers.
    pub async fn start(binary: &str) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let config = dir.path().join("accord.toml");
        let toml = format!(
            "[database]\npath = {:?}\n[client_api]\nbind = \"127.0.0.1:{port}\"\n[registration]\nmode = \"open\"\n[logging]\nfilter = \"warn\"\n",
            dir.path().join("db")
        );
        // Benchmarks measure throughput, not the limits in front of it.
        let toml = toml + &accord_core::config::RateLimitsConfig::unlimited_toml();
        std::fs::write(&config, toml).map_err(|e| e.to_string())?;
        let child = Command::new(binary)
            .args(["serve", "--config"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start {binary}: {e}"))?;
        let server = Self {
            child,
            base_url: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if reqwest::get(format!("{}/_matrix/client/versions", server.base_url))
                .await
                .is_ok()
            {
                return Ok(server);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err("accord did not answer within 30 s".to_owned())
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident set size in KiB, from /proc.
    pub fn rss_kib(&self) -> Result<u64, String> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).map_err(|e| e.to_string())?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or_else(|| "no VmRSS in /proc status".to_owned())
    }

    /// CPU time the server has used (user + system), from /proc, in clock ticks (1/100 s on
    /// Linux): the cost of the work itself, without the time the machine gave to other tenants
    /// (contention with them still inflates it: caches, frequency).
    pub fn cpu_ticks(&self) -> Result<u64, String> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).map_err(|e| e.to_string())?;
        // Fields after the `(comm)`, which may hold spaces: utime and stime are the 12th and
        // 13th of them (the 14th and 15th of the line).
        let after_comm = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest)
            .ok_or("no comm in /proc stat")?;
        let fields: Vec<&str> = after_comm.split_whitespace().collect();
        let field = |i: usize| -> Result<u64, String> {
            fields
                .get(i)
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("no field {i} in /proc stat"))
        };
        Ok(field(11)? + field(12)?)
    }

    /// Context switches of all the server's threads so far (voluntary and not), from /proc: a
    /// thread hand-off per request shows here however noisy the machine is.
    pub fn context_switches(&self) -> Result<u64, String> {
        let tasks = std::fs::read_dir(format!("/proc/{}/task", self.pid())).map_err(|e| e.to_string())?;
        let mut total = 0;
        for task in tasks {
            let path = task.map_err(|e| e.to_string())?.path().join("status");
            // A thread that ended between listing and reading is simply not counted.
            let Ok(status) = std::fs::read_to_string(path) else {
                continue;
            };
            total += status
                .lines()
                .filter(|line| {
                    line.starts_with("voluntary_ctxt_switches:") || line.starts_with("nonvoluntary_ctxt_switches:")
                })
                .filter_map(|line| line.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum::<u64>();
        }
        Ok(total)
    }

    /// Kills the server.
    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
