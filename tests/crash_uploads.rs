//! Uploads survive `kill -9`: 50 uploads run at once against the `accord` binary, which is
//! killed while they are in flight, three times over. After each restart every upload that had
//! been answered 200 is served intact (sha256 checked), no file is kept under a name that is
//! not its own content hash, and no temporary file survives the start.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const UPLOADS: usize = 50;
const ROUNDS: usize = 3;

/// The server under test: a child process on its own database and media directory.
struct Server {
    child: Option<Child>,
    config: PathBuf,
    media: PathBuf,
    base: String,
}

impl Server {
    fn new(dir: &Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let config = dir.join("accord.toml");
        let media = dir.join("media");
        let toml = format!(
            "server_name = \"localhost\"\n[database]\npath = {:?}\n[client_api]\nbind = \"127.0.0.1:{port}\"\n\
             [registration]\nmode = \"open\"\n[media]\npath = {media:?}\n",
            dir.join("db")
        );
        let toml = toml + &accord_core::config::RateLimitsConfig::unlimited_toml();
        std::fs::write(&config, toml).expect("write config");
        Self {
            child: None,
            config,
            media,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    async fn start(&mut self, http: &reqwest::Client) {
        let child = Command::new(env!("CARGO_BIN_EXE_accord"))
            .args(["serve", "--config"])
            .arg(&self.config)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start accord");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if http
                .get(format!("{}/_matrix/client/versions", self.base))
                .send()
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("accord did not start within 30 s");
    }

    fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("kill");
            child.wait().expect("reap");
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A file of `len` bytes unique to `(round, index)`.
fn file(round: usize, index: usize, len: usize) -> Vec<u8> {
    let mut state = (round as u64) << 32 | index as u64 | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// Every file under `dir`.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_uploads_survive_kill_9() {
    accord_testkit::install_crypto_provider();
    let dir = tempfile::tempdir().expect("temp dir");
    let http = reqwest::Client::new();
    let mut server = Server::new(dir.path());
    server.start(&http).await;
    let registered: Value = http
        .post(format!("{}/_matrix/client/v3/register", server.base))
        .json(&json!({ "username": "uploader", "password": "pw-uploader-1", "auth": { "type": "m.login.dummy" } }))
        .send()
        .await
        .expect("register")
        .json()
        .await
        .expect("json");
    let token = registered["access_token"].as_str().expect("token").to_owned();
    let mut acknowledged: Vec<(String, [u8; 32])> = Vec::new();

    for round in 0..ROUNDS {
        let answered = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for index in 0..UPLOADS {
            let (http, base, token, answered) = (http.clone(), server.base.clone(), token.clone(), answered.clone());
            tasks.push(tokio::spawn(async move {
                // 64 KiB to 3 MiB: some finish before the kill, some are cut mid-body.
                let bytes = file(round, index, 64 * 1024 + index * 60 * 1024);
                let hash: [u8; 32] = Sha256::digest(&bytes).into();
                let reply = http
                    .post(format!("{base}/_matrix/media/v3/upload?filename=f{index}"))
                    .bearer_auth(token)
                    .header("content-type", "application/octet-stream")
                    .body(bytes)
                    .send()
                    .await
                    .ok()?;
                if reply.status() != 200 {
                    return None;
                }
                let body: Value = reply.json().await.ok()?;
                answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Some((body["content_uri"].as_str()?.to_owned(), hash))
            }));
        }
        // Kill once a few have been answered and the rest are still streaming.
        let deadline = Instant::now() + Duration::from_secs(30);
        while answered.load(std::sync::atomic::Ordering::SeqCst) < 5 + round * 5 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        server.kill9();
        let mut this_round = 0;
        for task in tasks {
            if let Some(done) = task.await.expect("task") {
                acknowledged.push(done);
                this_round += 1;
            }
        }
        assert!(
            this_round > 0 && this_round < UPLOADS,
            "round {round}: {this_round} of {UPLOADS} answered before the kill"
        );
        println!("round {round}: {this_round} of {UPLOADS} uploads acknowledged before the kill");

        server.start(&http).await;
        // No temporary file survives a start; every stored file is named by its own hash.
        assert!(
            files_under(&server.media.join("tmp")).is_empty(),
            "round {round}: temporary files left"
        );
        for path in files_under(&server.media.join("blobs")) {
            let bytes = std::fs::read(&path).expect("read blob");
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
            assert_eq!(
                name,
                format!("{:x}", Sha256::digest(&bytes)),
                "round {round}: a file under a wrong name"
            );
        }
        // Every acknowledged upload, from every round so far, is served whole.
        for (mxc, hash) in &acknowledged {
            let path = mxc.trim_start_matches("mxc://");
            let reply = http
                .get(format!("{}/_matrix/client/v1/media/download/{path}", server.base))
                .bearer_auth(&token)
                .send()
                .await
                .expect("download");
            assert_eq!(reply.status(), 200, "round {round}: {mxc} lost");
            let bytes = reply.bytes().await.expect("body");
            let got: [u8; 32] = Sha256::digest(&bytes).into();
            assert_eq!(&got, hash, "round {round}: {mxc} corrupted");
        }
    }
}
