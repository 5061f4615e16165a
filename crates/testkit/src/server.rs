//! `TestServer`: one Accord on loopback with its own temp database, restartable in place.

use accord_core::{Config, config::RegistrationMode};
use accord_server::RunningServer;
use tempfile::TempDir;

use crate::{SHARED_SECRET, install_crypto_provider};

/// A running in-process server and the directory holding its database.
pub struct TestServer {
    running: Option<RunningServer>,
    /// The configuration it runs with (bind address updated to the port it got).
    pub config: Config,
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    pub(crate) http: reqwest::Client,
    dir: TempDir,
    /// Certificates for federating servers, kept as long as the server.
    _certs: Option<TempDir>,
}

impl TestServer {
    /// Starts a server with open registration and the test shared secret.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts a server after `adjust` edits the default test configuration.
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> Self {
        Self::start_wrapped(adjust, |engine| engine).await
    }

    /// Starts a server whose storage engine fails fsyncs once the returned switch is armed.
    pub async fn start_faulty() -> (Self, crate::FaultSwitch) {
        let mut switch = None;
        let server = Self::start_wrapped(
            |_| {},
            |engine| {
                let (engine, faults) = crate::FaultyEngine::wrap(engine);
                switch = Some(faults);
                engine
            },
        )
        .await;
        (server, switch.expect("the engine was wrapped"))
    }

    /// Starts a server on the real engine as `wrap` returns it.
    async fn start_wrapped(
        adjust: impl FnOnce(&mut Config),
        wrap: impl FnOnce(std::sync::Arc<dyn accord_storage::KvEngine>) -> std::sync::Arc<dyn accord_storage::KvEngine>,
    ) -> Self {
        install_crypto_provider();
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config::default();
        config.database.path = dir.path().join("db");
        config.client_api.bind = std::net::SocketAddr::from(([127, 0, 0, 1], reserved_port()));
        config.federation.bind = std::net::SocketAddr::from(([127, 0, 0, 1], reserved_port()));
        config.registration.mode = RegistrationMode::Open;
        config.registration.shared_secret = Some(SHARED_SECRET.to_owned());
        // Tests make their admins themselves; the first-admin token has its own test.
        config.registration.first_admin_token = false;
        // Tests of other behaviour must not trip limits; the limits' own tests set them.
        config.rate_limits = accord_core::config::RateLimitsConfig::unlimited();
        adjust(&mut config);
        config.validate().expect("test config is valid");
        let engine = accord_server::open_engine(&config).expect("database opens");
        let running = RunningServer::start_on(config.clone(), wrap(engine))
            .await
            .expect("server starts");
        let scheme = if config.client_api.tls_cert.is_some() {
            "https"
        } else {
            "http"
        };
        let base_url = format!("{scheme}://{}", running.client_addr);
        // Later restarts reuse the port so tokens and URLs stay valid.
        config.client_api.bind = running.client_addr;
        if let Some(addr) = running.federation_addr {
            config.federation.bind = addr;
        }
        let http = reqwest::Client::builder().build().expect("http client");
        Self {
            running: Some(running),
            config,
            base_url,
            http,
            dir,
            _certs: None,
        }
    }

    /// Starts a server that federates: its name is `localhost:<port>` of its federation
    /// listener, which serves TLS with a certificate from `ca`, and it trusts `ca` for
    /// outbound requests. Loopback only.
    pub async fn start_federating(ca: &crate::ca::TestCa, adjust: impl FnOnce(&mut Config)) -> Self {
        let certs = tempfile::tempdir().expect("cert dir");
        let leaf = ca.leaf(certs.path(), "federation", &[]);
        let ca_file = certs.path().join("ca.pem");
        std::fs::write(&ca_file, &ca.ca_pem).expect("write CA");
        let port = reserved_port();
        let mut server = Self::start_with(|c| {
            c.server_name = ruma::ServerName::parse(format!("localhost:{port}")).expect("server name");
            c.federation.enabled = true;
            c.federation.bind = format!("127.0.0.1:{port}").parse().expect("address");
            c.federation.tls_cert = Some(leaf.cert.clone());
            c.federation.tls_key = Some(leaf.key.clone());
            c.federation.tls_ca_file = Some(ca_file.clone());
            adjust(c);
        })
        .await;
        server._certs = Some(certs);
        server
    }

    /// The running server (its services and addresses).
    pub fn running(&self) -> &RunningServer {
        self.running.as_ref().expect("server is running")
    }

    /// Stops the server gracefully and starts it again on the same database and port.
    pub async fn restart(&mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await;
        }
        let running = RunningServer::start(self.config.clone())
            .await
            .expect("server restarts");
        self.running = Some(running);
    }

    /// Stops the server; the database directory stays until the `TestServer` drops.
    pub async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await;
        }
    }

    /// The directory holding this server's database.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }
}

/// A free loopback port below the kernel's ephemeral range (32768 and up on Linux), so that a
/// server restarting on its old port never finds it taken by another test's port-0 socket or
/// outbound connection. Each test process walks its own stretch of 20000-32767.
fn reserved_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    const LOW: u16 = 20_000;
    const SPAN: u16 = 12_000;
    let base = u16::try_from(std::process::id() % u32::from(SPAN)).unwrap_or(0);
    loop {
        let offset = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = LOW + (base.wrapping_add(offset) % SPAN);
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}
