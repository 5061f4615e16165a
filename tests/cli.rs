//! The `accord` binary as operators use it: config validation with one-line errors, account
//! creation on a stopped server, and durability of acknowledged writes across `kill -9`.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

use serde_json::{Value, json};

fn accord() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_accord"));
    // Keep the environment from overriding the files under test.
    for (key, _) in std::env::vars() {
        if key.starts_with("ACCORD_") {
            command.env_remove(key);
        }
    }
    command
}

/// The client API's `bind` address in a config file the tests wrote.
fn client_bind(config: &Path) -> String {
    let text = std::fs::read_to_string(config).expect("config");
    text.lines()
        .find_map(|l| l.strip_prefix("bind = "))
        .expect("bind line")
        .trim_matches('"')
        .to_owned()
}

fn check_config(toml: &str) -> Output {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("accord.toml");
    std::fs::write(&file, toml.replace("$DIR", &dir.path().display().to_string())).expect("write config");
    accord().arg("check-config").arg(&file).output().expect("run accord")
}

/// Fails unless the command exited non-zero with exactly one stderr line containing `needle`.
#[track_caller]
fn assert_one_line_error(output: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "expected failure, stderr: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "expected one line, got: {stderr}");
    assert!(stderr.contains(needle), "expected {needle:?} in: {stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
}

#[test]
fn version_flag_prints_the_version() {
    let output = accord().arg("--version").output().expect("run accord");
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        format!("accord {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn valid_config_passes_check() {
    let output = check_config("server_name = \"example.org\"\n[database]\npath = \"$DIR/db\"\n");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains("configuration is valid"));
}

#[test]
fn the_shipped_example_config_is_valid() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/accord.toml");
    let text = std::fs::read_to_string(&example).expect("conf/accord.toml exists");
    let output = check_config(&text.replace("./accord-data", "$DIR/db"));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

#[test]
fn unknown_key_is_one_line_naming_the_key() {
    assert_one_line_error(
        &check_config("[database]\npath = \"$DIR/db\"\ncolour = \"blue\"\n"),
        "`database.colour`",
    );
}

#[test]
fn wrong_type_is_one_line_naming_the_key() {
    assert_one_line_error(
        &check_config("[database]\npath = \"$DIR/db\"\n[federation]\nenabled = 3\n"),
        "`federation.enabled`",
    );
}

#[test]
fn unreadable_tls_file_is_one_line_naming_the_key() {
    let toml = "[database]\npath = \"$DIR/db\"\n[federation]\nenabled = true\ntls_cert = \"$DIR/missing.crt\"\ntls_key = \"$DIR/missing.key\"\n";
    assert_one_line_error(&check_config(toml), "`federation.tls_cert`");
}

#[test]
fn unwritable_database_path_is_one_line_naming_the_key() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").expect("write");
    let toml = format!("[database]\npath = {:?}\n", file.join("db"));
    assert_one_line_error(&check_config(&toml), "`database.path`");
}

#[test]
fn an_invalid_registration_file_stops_start_up_with_one_line_naming_file_and_field() {
    let dir = tempfile::tempdir().expect("dir");
    let registration = dir.path().join("bridge.yaml");
    std::fs::write(
        &registration,
        "id: bridge\nurl: null\nas_token: a\nhs_token: h\nsender_localpart: bot\n\
         namespaces:\n  users:\n    - exclusive: true\n      regex: \"@bridge_(\"\n",
    )
    .expect("write registration");
    let toml = format!(
        "[database]\npath = \"{}/db\"\n[appservice]\nregistration_files = [{:?}]\n",
        dir.path().display(),
        registration
    );
    let config = dir.path().join("accord.toml");
    std::fs::write(&config, toml).expect("write config");
    for command in ["check-config", "serve"] {
        let mut run = accord();
        match command {
            "serve" => run.args(["serve", "--config"]),
            _ => run.arg("check-config"),
        };
        let output = run.arg(&config).output().expect("run accord");
        assert_one_line_error(&output, "bridge.yaml: namespaces.users[0].regex: is not a valid regex");
    }
}

#[test]
fn bad_toml_and_missing_file_are_one_line() {
    assert_one_line_error(&check_config("[database\n"), "config");
    let output = accord()
        .args(["check-config", "/nonexistent/accord.toml"])
        .output()
        .expect("run accord");
    assert_one_line_error(&output, "/nonexistent/accord.toml");
}

#[test]
fn environment_overrides_the_file() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("accord.toml");
    std::fs::write(&file, format!("[database]\npath = {:?}\n", dir.path().join("db"))).expect("write");
    let output = accord()
        .arg("check-config")
        .arg(&file)
        .env("ACCORD_SERVER_NAME", "env.example")
        .output()
        .expect("run");
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("server_name env.example"),
        "{output:?}"
    );
    let output = accord()
        .arg("check-config")
        .arg(&file)
        .env("ACCORD_FEDERATION__ENABLED", "maybe")
        .output()
        .expect("run");
    assert_one_line_error(&output, "`federation.enabled`");
}

/// Admins write environment overrides unquoted (Docker, systemd): a room version or a secret
/// that looks like a number is still taken as text.
#[test]
fn environment_overrides_take_numbers_as_text() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("accord.toml");
    std::fs::write(&file, format!("[database]\npath = {:?}\n", dir.path().join("db"))).expect("write");
    let output = accord()
        .arg("check-config")
        .arg(&file)
        .env("ACCORD_ROOMS__DEFAULT_ROOM_VERSION", "10")
        .env("ACCORD_REGISTRATION__SHARED_SECRET", "12345")
        .output()
        .expect("run");
    assert!(output.status.success(), "{output:?}");
    let output = accord()
        .arg("check-config")
        .arg(&file)
        .env("ACCORD_ROOMS__DEFAULT_ROOM_VERSION", "99")
        .output()
        .expect("run");
    assert_one_line_error(&output, "`rooms.default_room_version`");
}

/// Logs written to a pipe or file carry no terminal colour codes.
#[test]
fn logs_to_a_pipe_have_no_colour_codes() {
    let dir = tempfile::tempdir().expect("dir");
    let config = ServerProcess::config_in(dir.path());
    let (mut child, reader) = serve_logging(&config, "info");
    std::thread::sleep(Duration::from_secs(2));
    child.kill().expect("kill");
    child.wait().expect("reap");
    let logs = reader.join().expect("reader");
    assert!(logs.contains("INFO"), "some info lines expected: {logs}");
    assert!(!logs.contains('\u{1b}'), "colour codes in piped logs: {logs}");
}

/// A server process on a temp database and a free loopback port, killed on drop.
struct ServerProcess {
    child: Child,
    base: String,
    config: PathBuf,
}

impl ServerProcess {
    fn config_in(dir: &Path) -> PathBuf {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let file = dir.join("accord.toml");
        let toml = format!(
            "[database]\npath = {:?}\n[client_api]\nbind = \"127.0.0.1:{port}\"\n[registration]\nmode = \"open\"\n",
            dir.join("db")
        );
        let toml = toml + &accord_core::config::RateLimitsConfig::unlimited_toml();
        std::fs::write(&file, toml).expect("write config");
        file
    }

    fn start(config: PathBuf) -> Self {
        let bind = client_bind(&config);
        let child = accord()
            .args(["serve", "--config"])
            .arg(&config)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start accord");
        let server = Self {
            child,
            base: format!("http://{bind}"),
            config,
        };
        server.wait_ready();
        server
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if ureq_get(&format!("{}/_matrix/client/versions", self.base)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("accord did not start within 30 s");
    }

    fn kill9(&mut self) {
        // SIGKILL: no shutdown hooks, no flush.
        self.child.kill().expect("kill");
        self.child.wait().expect("reap");
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ureq_get(url: &str) -> Result<(u16, Value), String> {
    request("GET", url, None, None)
}

/// Minimal blocking HTTP/1.1 over loopback, so this test needs no async runtime.
fn request(method: &str, url: &str, token: Option<&str>, body: Option<&Value>) -> Result<(u16, Value), String> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").ok_or("http only")?;
    let (host, path) = rest.split_once('/').ok_or("no path")?;
    let mut stream = std::net::TcpStream::connect(host).map_err(|e| e.to_string())?;
    let body = body.map(Value::to_string).unwrap_or_default();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "{method} /{path} HTTP/1.1\r\nHost: {host}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream.read_to_string(&mut response).map_err(|e| e.to_string())?;
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("no status")?;
    let (head, payload) = response.split_once("\r\n\r\n").ok_or("no body")?;
    let payload = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        dechunk(payload)
    } else {
        payload.to_owned()
    };
    Ok((status, serde_json::from_str(&payload).unwrap_or(Value::Null)))
}

fn dechunk(mut data: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = data.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        data = rest[size..].trim_start_matches("\r\n");
    }
    out
}

#[test]
fn user_create_works_on_a_stopped_server_and_refuses_a_running_one() {
    let dir = tempfile::tempdir().expect("dir");
    let config = ServerProcess::config_in(dir.path());
    let output = accord()
        .args([
            "user",
            "create",
            "ops",
            "--password",
            "pw-ops-123",
            "--admin",
            "--config",
        ])
        .arg(&config)
        .output()
        .expect("run");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains("@ops:localhost (admin)"));

    let server = ServerProcess::start(config.clone());
    let login = json!({ "type": "m.login.password", "identifier": { "type": "m.id.user", "user": "ops" }, "password": "pw-ops-123" });
    let (status, body) = request(
        "POST",
        &format!("{}/_matrix/client/v3/login", server.base),
        None,
        Some(&login),
    )
    .expect("login");
    assert_eq!(status, 200, "{body}");

    let output = accord()
        .args(["user", "create", "other", "--config"])
        .arg(&server.config)
        .output()
        .expect("run");
    assert_one_line_error(&output, "already in use");
}

#[test]
fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().expect("dir");
    let config = ServerProcess::config_in(dir.path());
    let mut server = ServerProcess::start(config.clone());
    let register = json!({ "username": "durable", "password": "pw-123456", "auth": { "type": "m.login.dummy" } });
    let (status, body) = request(
        "POST",
        &format!("{}/_matrix/client/v3/register", server.base),
        None,
        Some(&register),
    )
    .expect("register");
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().expect("token").to_owned();
    let data_url = format!(
        "{}/_matrix/client/v3/user/@durable:localhost/account_data/org.example.durable",
        server.base
    );
    let (status, _) = request("PUT", &data_url, Some(&token), Some(&json!({ "n": 42 }))).expect("put");
    assert_eq!(status, 200);

    server.kill9();
    let restarted = ServerProcess::start(config);

    let (status, body) = request("GET", &data_url, Some(&token), None).expect("get");
    assert_eq!((status, body), (200, json!({ "n": 42 })));
    let (status, body) = request(
        "GET",
        &format!("{}/_matrix/client/v3/account/whoami", restarted.base),
        Some(&token),
        None,
    )
    .expect("whoami");
    assert_eq!((status, &body["user_id"]), (200, &json!("@durable:localhost")));
}

#[test]
fn sighup_reloads_without_stopping_and_survives_a_broken_config() {
    let dir = tempfile::tempdir().expect("dir");
    let config = ServerProcess::config_in(dir.path());
    let server = ServerProcess::start(config.clone());
    let original = std::fs::read_to_string(&config).expect("config");
    let hup = || {
        let status = Command::new("kill")
            .args(["-HUP", &server.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        std::thread::sleep(Duration::from_millis(300));
    };
    // A broken edit is logged and ignored; the server keeps serving.
    std::fs::write(&config, format!("{original}\nnot valid toml [[[")).expect("write");
    hup();
    assert_eq!(
        ureq_get(&format!("{}/_matrix/client/versions", server.base))
            .expect("still serving")
            .0,
        200
    );
    // A valid one is applied; still serving.
    std::fs::write(
        &config,
        format!("{original}\n[federation]\ndenied_servers = [\"evil.example\"]\n"),
    )
    .expect("write");
    hup();
    assert_eq!(
        ureq_get(&format!("{}/_matrix/client/versions", server.base))
            .expect("still serving")
            .0,
        200
    );
}

/// Runs `accord admin ...` against `server` with `token`.
fn admin_cli(server: &ServerProcess, token: &str, args: &[&str]) -> Output {
    accord()
        .args(["admin", "--url", &server.base])
        .args(args)
        .env("ACCORD_ADMIN_TOKEN", token)
        .output()
        .expect("run accord admin")
}

fn login_token(server: &ServerProcess, user: &str, password: &str) -> Result<String, u16> {
    let login = json!({ "type": "m.login.password", "identifier": { "type": "m.id.user", "user": user }, "password": password });
    let (status, body) = request(
        "POST",
        &format!("{}/_matrix/client/v3/login", server.base),
        None,
        Some(&login),
    )
    .expect("login");
    match body["access_token"].as_str() {
        Some(token) if status == 200 => Ok(token.to_owned()),
        _ => Err(status),
    }
}

/// A server in `dir` with the admin `ops` made before it started (as an operator makes the
/// first admin); the server, its config file and the admin's token.
fn start_with_admin(dir: &Path) -> (ServerProcess, PathBuf, String) {
    let config = ServerProcess::config_in(dir);
    let made = accord()
        .args([
            "user",
            "create",
            "ops",
            "--password",
            "pw-ops-123",
            "--admin",
            "--config",
        ])
        .arg(&config)
        .output()
        .expect("run");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let server = ServerProcess::start(config.clone());
    let token = login_token(&server, "ops", "pw-ops-123").expect("admin login");
    (server, config, token)
}

#[test]
fn the_admin_cli_manages_a_running_server_and_audit_verify_finds_a_changed_record() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut server, config, token) = start_with_admin(dir.path());

    // Accounts are made and deactivated while the server runs.
    let created = admin_cli(&server, &token, &["users", "create", "bob", "--password", "pw-bob-123"]);
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    assert!(String::from_utf8_lossy(&created.stdout).contains("\"name\": \"@bob:localhost\""));
    login_token(&server, "bob", "pw-bob-123").expect("bob logs in");
    let listed = admin_cli(&server, &token, &["users", "list"]);
    assert!(String::from_utf8_lossy(&listed.stdout).contains("@bob:localhost"));
    let archive = dir.path().join("bob.tar.gz");
    let exported = admin_cli(
        &server,
        &token,
        &["users", "export", "bob", "--out", archive.to_str().expect("utf-8 path")],
    );
    assert!(
        exported.status.success(),
        "{}",
        String::from_utf8_lossy(&exported.stderr)
    );
    let bytes = std::fs::read(&archive).expect("archive written");
    assert_eq!(&bytes[..2], &[0x1f, 0x8b], "a gzip file");
    let gone = admin_cli(&server, &token, &["users", "deactivate", "@bob:localhost"]);
    assert!(gone.status.success(), "{}", String::from_utf8_lossy(&gone.stderr));
    assert_eq!(login_token(&server, "bob", "pw-bob-123"), Err(403));

    // A wrong token is one line naming the status and errcode.
    let refused = admin_cli(&server, "not-a-token", &["users", "list"]);
    assert_one_line_error(&refused, "401 M_UNKNOWN_TOKEN");

    // The audit log holds what the CLI did, and verifies while the server runs.
    let audit = admin_cli(&server, &token, &["audit", "list", "--kind", "account_deactivated"]);
    let audit: Value = serde_json::from_slice(&audit.stdout).expect("audit JSON");
    assert_eq!(audit["records"][0]["target"], "@bob:localhost");
    assert_eq!(audit["records"][0]["actor"], "@ops:localhost");
    let verified = admin_cli(&server, &token, &["audit", "verify"]);
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stdout)
    );
    server.kill9();

    // Offline: intact, then one record changed in the table is found.
    let intact = accord()
        .args(["audit", "verify", "--config"])
        .arg(&config)
        .output()
        .expect("run");
    assert!(intact.status.success(), "{}", String::from_utf8_lossy(&intact.stdout));
    assert!(String::from_utf8_lossy(&intact.stdout).contains("audit log intact"));
    {
        let loaded = accord_core::Config::load(Some(&config)).expect("config");
        let engine = accord_server::open_engine(&loaded).expect("engine");
        let table = accord_db::tables::SEQ_AUDITRECORD;
        let key = 2u64.to_be_bytes();
        let mut value = engine.get(table, &key).expect("read").expect("record 2");
        let at = value.len() - 3;
        value[at] = value[at].wrapping_add(1);
        let mut batch = accord_db::WriteBatch::new();
        batch.put(table, key, value);
        engine.write(batch).expect("tamper");
    }
    let tampered = accord()
        .args(["audit", "verify", "--config"])
        .arg(&config)
        .output()
        .expect("run");
    assert!(!tampered.status.success());
    let report = String::from_utf8_lossy(&tampered.stdout);
    assert!(
        report.contains("PROBLEM: record 2 was changed"),
        "{report}{}",
        String::from_utf8_lossy(&tampered.stderr)
    );
}

#[test]
fn backup_restore_and_verify_from_the_command_line() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut server, _config, token) = start_with_admin(dir.path());
    let room = json!({ "name": "Kept" });
    let (status, created) = request(
        "POST",
        &format!("{}/_matrix/client/v3/createRoom", server.base),
        Some(&token),
        Some(&room),
    )
    .expect("create room");
    assert_eq!(status, 200, "{created}");

    // A running server is backed up through its admin API.
    let backup = dir.path().join("backup");
    let taken = accord()
        .args(["backup", "--url", &server.base, "--to"])
        .arg(&backup)
        .env("ACCORD_ADMIN_TOKEN", &token)
        .output()
        .expect("run backup");
    assert!(taken.status.success(), "{}", String::from_utf8_lossy(&taken.stderr));
    assert!(String::from_utf8_lossy(&taken.stdout).contains("\"server_name\": \"localhost\""));
    server.kill9();

    // Restored for another (stopped) server of the same name, it verifies.
    let other = tempfile::tempdir().expect("dir");
    let other_config = ServerProcess::config_in(other.path());
    let restored = accord()
        .args(["restore", "--from"])
        .arg(&backup)
        .arg("--config")
        .arg(&other_config)
        .output()
        .expect("run restore");
    assert!(
        restored.status.success(),
        "{}",
        String::from_utf8_lossy(&restored.stderr)
    );
    let again = accord()
        .args(["restore", "--from"])
        .arg(&backup)
        .arg("--config")
        .arg(&other_config)
        .output()
        .expect("run restore");
    assert_one_line_error(&again, "already holds a database");
    let verified = accord()
        .args(["verify", "--config"])
        .arg(&other_config)
        .output()
        .expect("run");
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stdout)
    );
    assert!(String::from_utf8_lossy(&verified.stdout).contains("database verified"));

    // One stored event changed: verify names it and fails.
    {
        let loaded = accord_core::Config::load(Some(&other_config)).expect("config");
        let engine = accord_server::open_engine(&loaded).expect("engine");
        let table = accord_db::tables::SHORTEVENTID_PDU;
        let (key, value) = engine
            .iter_from(table, None, accord_db::Direction::Forward)
            .expect("iterate")
            .next()
            .expect("an event")
            .expect("readable");
        let mut event: Value = serde_json::from_slice(&value).expect("json");
        event["origin_server_ts"] = json!(1);
        let mut batch = accord_db::WriteBatch::new();
        batch.put(table, key, serde_json::to_vec(&event).expect("json"));
        engine.write(batch).expect("tamper");
    }
    let tampered = accord()
        .args(["verify", "--config"])
        .arg(&other_config)
        .output()
        .expect("run");
    assert!(!tampered.status.success());
    assert!(
        String::from_utf8_lossy(&tampered.stdout).contains("PROBLEM: $"),
        "{}",
        String::from_utf8_lossy(&tampered.stdout)
    );
}

/// The token in the first-admin log line (`token=<value>`), if printed.
fn first_admin_token_in(logs: &str) -> Option<String> {
    logs.lines()
        .filter(|line| line.contains("No administrator yet"))
        .find_map(|line| line.split("token=").nth(1))
        .map(|rest| rest.split_whitespace().next().unwrap_or_default().to_owned())
}

/// Starts `accord serve` with its log piped at `rust_log`; the process and a reader of its
/// whole log (complete once the process ends).
fn serve_logging(config: &Path, rust_log: &str) -> (Child, std::thread::JoinHandle<String>) {
    let mut child = accord()
        .args(["serve", "--config"])
        .arg(config)
        .env("RUST_LOG", rust_log)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start accord");
    let mut stderr = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut text).ok();
        text
    });
    (child, reader)
}

/// Waits (up to 30 s) until the server at `base` answers `/versions`.
fn wait_for_versions(base: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while ureq_get(&format!("{base}/_matrix/client/versions")).is_err() {
        assert!(Instant::now() < deadline, "accord at {base} did not answer within 30 s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_closed_server_without_admins_prints_a_one_time_token_for_the_first() {
    let dir = tempfile::tempdir().expect("dir");
    let config = ServerProcess::config_in(dir.path());
    let closed = std::fs::read_to_string(&config)
        .expect("config")
        .replace("mode = \"open\"", "mode = \"closed\"");
    std::fs::write(&config, closed).expect("write config");
    let base = format!("http://{}", client_bind(&config));
    let (mut child, reader) = serve_logging(&config, "warn");
    wait_for_versions(&base);
    // Closed, but the token flow is offered for the first admin.
    let register = format!("{base}/_matrix/client/v3/register");
    let (status, flows) = request(
        "POST",
        &register,
        None,
        Some(&json!({ "username": "chief", "password": "pw-chief-1" })),
    )
    .expect("register");
    assert_eq!(status, 401, "{flows}");
    assert_eq!(flows["flows"][0]["stages"][0], "m.login.registration_token", "{flows}");
    let session = flows["session"].as_str().expect("session").to_owned();
    child.kill().expect("kill");
    child.wait().expect("reap");
    let logs = reader.join().expect("reader");
    let token = first_admin_token_in(&logs).unwrap_or_else(|| panic!("no token printed: {logs}"));
    assert_eq!(token.len(), 32, "{logs}");

    // After a restart the same token still works, and is not printed again.
    let (mut child, reader) = serve_logging(&config, "warn");
    wait_for_versions(&base);
    let (status, wrong) = request(
        "POST",
        &register,
        None,
        Some(&json!({ "username": "chief", "password": "pw-chief-1",
                      "auth": { "type": "m.login.registration_token", "token": "not-it", "session": session } })),
    )
    .expect("register");
    assert_eq!(status, 401, "{wrong}");
    let (_, flows) = request(
        "POST",
        &register,
        None,
        Some(&json!({ "username": "chief", "password": "pw-chief-1" })),
    )
    .expect("register");
    let session = flows["session"].as_str().expect("session").to_owned();
    let (status, after_token) = request(
        "POST",
        &register,
        None,
        Some(&json!({ "username": "chief", "password": "pw-chief-1",
                      "auth": { "type": "m.login.registration_token", "token": token, "session": session } })),
    )
    .expect("register");
    assert_eq!(status, 401, "the dummy stage follows: {after_token}");
    let (status, registered) = request(
        "POST",
        &register,
        None,
        Some(&json!({ "username": "chief", "password": "pw-chief-1",
                      "auth": { "type": "m.login.dummy", "session": session } })),
    )
    .expect("register");
    assert_eq!(status, 200, "{registered}");
    let admin_token = registered["access_token"].as_str().expect("access token").to_owned();
    let (status, shown) = request(
        "GET",
        &format!("{base}/_synapse/admin/v2/users/@chief:localhost"),
        Some(&admin_token),
        None,
    )
    .expect("admin read");
    assert_eq!((status, &shown["admin"]), (200, &json!(true)), "{shown}");
    // The offer is over: the server is closed again.
    let (status, closed) = request(
        "POST",
        &register,
        None,
        Some(&json!({ "username": "second", "password": "pw-second-1" })),
    )
    .expect("register");
    assert_eq!(status, 403, "{closed}");
    child.kill().expect("kill");
    child.wait().expect("reap");
    let logs = reader.join().expect("reader");
    assert!(first_admin_token_in(&logs).is_none(), "printed only once: {logs}");
    assert!(logs.contains("was printed in the log when it was made"), "{logs}");
}

/// An OTLP/HTTP receiver on loopback: decodes each export with OpenTelemetry's own protobuf
/// definitions and keeps the requests. Answers as a collector does (an empty export response).
struct TraceReceiver {
    runtime: tokio::runtime::Runtime,
    received: std::sync::Arc<
        std::sync::Mutex<Vec<opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest>>,
    >,
    endpoint: String,
}

impl TraceReceiver {
    fn start() -> Self {
        use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
        use prost::Message as _;
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let shared = received.clone();
        let app = axum::Router::new().route(
            "/v1/traces",
            axum::routing::post(move |body: axum::body::Bytes| {
                let shared = shared.clone();
                async move {
                    match ExportTraceServiceRequest::decode(body) {
                        Ok(export) => {
                            shared.lock().expect("received").push(export);
                            let answer = ExportTraceServiceResponse::default().encode_to_vec();
                            (
                                axum::http::StatusCode::OK,
                                [("content-type", "application/x-protobuf")],
                                answer,
                            )
                        }
                        Err(_) => (
                            axum::http::StatusCode::BAD_REQUEST,
                            [("content-type", "application/x-protobuf")],
                            Vec::new(),
                        ),
                    }
                }
            }),
        );
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        runtime.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            runtime,
            received,
            endpoint: format!("http://127.0.0.1:{port}/v1/traces"),
        }
    }

    /// `(service.name, span name, attributes as text)` of every span received.
    fn spans(&self) -> Vec<(String, String, std::collections::BTreeMap<String, String>)> {
        use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
        let text = |value: &Option<opentelemetry_proto::tonic::common::v1::AnyValue>| match value
            .as_ref()
            .and_then(|v| v.value.as_ref())
        {
            Some(V::StringValue(s)) => s.clone(),
            Some(V::IntValue(n)) => n.to_string(),
            other => format!("{other:?}"),
        };
        let mut out = Vec::new();
        for export in self.received.lock().expect("received").iter() {
            for resource_spans in &export.resource_spans {
                let service = resource_spans
                    .resource
                    .as_ref()
                    .and_then(|r| r.attributes.iter().find(|a| a.key == "service.name"))
                    .map(|a| text(&a.value))
                    .unwrap_or_default();
                for scope in &resource_spans.scope_spans {
                    for span in &scope.spans {
                        let attributes = span
                            .attributes
                            .iter()
                            .map(|a| (a.key.clone(), text(&a.value)))
                            .collect();
                        out.push((service.clone(), span.name.clone(), attributes));
                    }
                }
            }
        }
        out
    }
}

#[test]
fn traces_reach_an_otlp_collector_when_telemetry_is_on() {
    let receiver = TraceReceiver::start();
    let dir = tempfile::tempdir().expect("dir");
    let config = ServerProcess::config_in(dir.path());
    let mut text = std::fs::read_to_string(&config).expect("config");
    text.push_str(&format!(
        "\n[telemetry]\nenabled = true\nendpoint = \"{}\"\nservice_name = \"accord-test\"\n",
        receiver.endpoint
    ));
    std::fs::write(&config, text).expect("write config");
    let server = ServerProcess::start(config);
    for _ in 0..3 {
        ureq_get(&format!("{}/_matrix/client/versions", server.base)).expect("versions");
    }
    let (status, _) = ureq_get(&format!("{}/_matrix/client/v3/account/whoami", server.base)).expect("whoami");
    assert_eq!(status, 401);
    // A clean stop flushes what the exporter still holds.
    let stopped = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(stopped.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut server = server;
    while server.child.try_wait().expect("wait").is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let spans = receiver.spans();
    let requests: Vec<_> = spans.iter().filter(|(_, name, _)| name == "request").collect();
    let versions = requests
        .iter()
        .filter(|(_, _, attributes)| {
            attributes.get("http.route").map(String::as_str) == Some("/_matrix/client/versions")
        })
        .count();
    // Three of ours, and the readiness polls of `ServerProcess::start`.
    assert!(versions >= 3, "{spans:?}");
    let whoami = requests
        .iter()
        .find(|(_, _, attributes)| {
            attributes
                .get("http.route")
                .is_some_and(|route| route.ends_with("/account/whoami"))
        })
        .unwrap_or_else(|| panic!("no whoami span: {spans:?}"));
    assert_eq!(
        whoami.2.get("http.response.status_code").map(String::as_str),
        Some("401")
    );
    assert_eq!(whoami.2.get("http.request.method").map(String::as_str), Some("GET"));
    assert!(
        requests.iter().all(|(service, _, _)| service == "accord-test"),
        "{spans:?}"
    );
    drop(receiver.runtime);
}

#[test]
fn a_bad_telemetry_endpoint_is_one_line_naming_the_key() {
    let toml = "[database]\npath = \"$DIR/db\"\n[telemetry]\nenabled = true\nendpoint = \"grpc://collector:4317\"\n";
    assert_one_line_error(&check_config(toml), "`telemetry.endpoint`");
}
