//! `accord-sliding-bench`: simplified sliding sync (MSC4186) for a user in 500 rooms, Accord
//! beside Synapse in one run.
//!
//! Run by `scripts/sliding-bench` (through `tests/synapse/run.sh`, which starts a Synapse and
//! an Accord binary on loopback and passes their addresses and PIDs in `INTEROP_*`
//! variables). For each server, with a user in `BENCH_ROOMS` (500) rooms, each with a name
//! and one message:
//!
//! - initial: 20 new connections with Element X's room list request (list `all_rooms`, all
//!   rooms in range, `timeline_limit` 1, its 17 `required_state` entries, the account data,
//!   receipts and typing extensions): p50 and p99;
//! - incremental: 200 times a message in a random room, then the next request of the
//!   connection (`timeout` 0): p50 and p99;
//! - memory: 50 more devices each open a connection (one initial request each) to warm every
//!   cache, then the server's RSS before and after 100 more: the growth per connection.
//!   Accord keeps connections in memory; Synapse keeps them in its database, so its figure is
//!   what its process grows by for the same work.
//!
//! Prints a Markdown table for docs/benchmarks.md.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

#[path = "../api.rs"]
mod api;
#[path = "../register.rs"]
mod register;
#[path = "../stats.rs"]
#[allow(dead_code)]
mod stats;

use api::{call, create_room, fill};
use register::register;
use serde_json::{Value, json};
use stats::Latencies;

const PATH: &str = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync";
const FILL_CONCURRENCY: usize = 16;
const INITIAL_RUNS: usize = 20;
const INCREMENTAL_RUNS: usize = 200;
const WARM_CONNECTIONS: usize = 50;
const MEMORY_CONNECTIONS: usize = 100;

/// What Element X's room list service asks for (matrix-sdk-ui 0.18).
const REQUIRED_STATE: &[(&str, &str)] = &[
    ("m.room.name", ""),
    ("m.room.encryption", ""),
    ("m.room.member", "$LAZY"),
    ("m.room.member", "$ME"),
    ("m.room.topic", ""),
    ("m.room.avatar", ""),
    ("m.room.canonical_alias", ""),
    ("m.room.power_levels", ""),
    ("org.matrix.msc3401.call.member", "*"),
    ("m.room.join_rules", ""),
    ("m.room.tombstone", ""),
    ("m.room.create", ""),
    ("m.room.history_visibility", ""),
    ("io.element.functional_members", ""),
    ("m.space.parent", "*"),
    ("m.space.child", "*"),
    ("org.matrix.msc3672.beacon_info", "*"),
];

struct Target {
    label: &'static str,
    url: String,
    pid: Option<u32>,
}

#[derive(Default)]
struct Figures {
    initial: Latencies,
    incremental: Latencies,
    rss_per_connection_kib: Option<f64>,
}

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set: run this through scripts/sliding-bench"))
}

fn rooms_wanted() -> usize {
    std::env::var("BENCH_ROOMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let pid = |name: &str| std::env::var(name).ok().and_then(|p| p.trim().parse().ok());
    let targets = [
        Target {
            label: "Accord",
            url: env("INTEROP_ACCORD_URL")?,
            pid: pid("INTEROP_ACCORD_PID"),
        },
        Target {
            label: "Synapse",
            url: env("INTEROP_SYNAPSE_URL")?,
            pid: pid("INTEROP_SYNAPSE_PID"),
        },
    ];
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .timeout(Duration::from_secs(300))
        .build()
        .map_err(|e| e.to_string())?;
    let mut all = Vec::new();
    for target in &targets {
        eprintln!("sliding-bench: {} at {}", target.label, target.url);
        all.push(measure(&http, target).await?);
    }
    let (accord, synapse) = (&all[0], &all[1]);
    let rooms = rooms_wanted();
    let kib = |f: &Figures| {
        f.rss_per_connection_kib
            .map_or("n/a".to_owned(), |k| format!("{k:.0} KiB"))
    };
    println!("| Sliding sync, a user in {rooms} rooms | Accord | Synapse |");
    println!("|---|---|---|");
    println!(
        "| initial (Element X's room list, all {rooms} rooms in range), p50 / p99 | {} / {} | {} / {} |",
        accord.initial.p50(),
        accord.initial.p99(),
        synapse.initial.p50(),
        synapse.initial.p99()
    );
    println!(
        "| incremental after one new message, p50 / p99 | {} / {} | {} / {} |",
        accord.incremental.p50(),
        accord.incremental.p99(),
        synapse.incremental.p50(),
        synapse.incremental.p99()
    );
    println!(
        "| server RSS growth per connection ({MEMORY_CONNECTIONS} connections after {WARM_CONNECTIONS} to warm up) | {} | {} |",
        kib(accord),
        kib(synapse)
    );
    Ok(())
}

fn room_list(ranges_end: usize) -> Value {
    let required_state: Vec<Value> = REQUIRED_STATE.iter().map(|(t, k)| json!([t, k])).collect();
    json!({
        "conn_id": "room-list",
        "lists": { "all_rooms": {
            "ranges": [[0, ranges_end]],
            "timeline_limit": 1,
            "required_state": required_state,
            "filters": {},
        } },
        "extensions": {
            "account_data": { "enabled": true },
            "receipts": { "enabled": true, "rooms": ["*"] },
            "typing": { "enabled": true },
        },
    })
}

async fn sliding(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    pos: Option<&str>,
    body: &Value,
) -> Result<(Value, Duration), String> {
    let path = match pos {
        Some(pos) => format!("{PATH}?timeout=0&pos={pos}"),
        None => format!("{PATH}?timeout=0"),
    };
    let started = Instant::now();
    let answer = call(http, url, token, reqwest::Method::POST, &path, Some(body.clone())).await?;
    Ok((answer, started.elapsed()))
}

async fn measure(http: &reqwest::Client, target: &Target) -> Result<Figures, String> {
    let name = format!("slidingbench{}", std::process::id());
    let (_, token) = register(http, &target.url, &name).await?;
    let (token, url) = (Arc::new(token), Arc::new(target.url.clone()));
    let count = rooms_wanted();
    let room_ids = Arc::new(tokio::sync::Mutex::new(Vec::with_capacity(count)));
    let started = Instant::now();
    fill(count, FILL_CONCURRENCY, |i| {
        let (http, url, token, room_ids) = (http.clone(), url.clone(), token.clone(), room_ids.clone());
        tokio::spawn(async move {
            let room = create_room(&http, &url, &token, json!({ "name": format!("room {i}") })).await?;
            let path = format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/fill{i}");
            call(
                &http,
                &url,
                &token,
                reqwest::Method::PUT,
                &path,
                Some(json!({ "msgtype": "m.text", "body": format!("hello {i}") })),
            )
            .await?;
            room_ids.lock().await.push(room);
            Ok(())
        })
    })
    .await?;
    let room_ids = room_ids.lock().await.clone();
    eprintln!(
        "sliding-bench: {}: {count} rooms in {:.0} s",
        target.label,
        started.elapsed().as_secs_f64()
    );
    let body = room_list(count.saturating_sub(1));
    let mut figures = Figures::default();

    // Initial: a new connection each time (a request without pos starts it over).
    let mut last = Value::Null;
    for _ in 0..INITIAL_RUNS {
        let (answer, took) = sliding(http, &url, &token, None, &body).await?;
        let sent = answer["rooms"].as_object().map_or(0, |r| r.len());
        if sent != count {
            return Err(format!(
                "{}: initial response has {sent} rooms, not {count}",
                target.label
            ));
        }
        figures.initial.push(took);
        last = answer;
    }

    // Incremental: one message, then the connection's next request.
    let mut pos = last["pos"].as_str().ok_or("no pos")?.to_owned();
    for i in 0..INCREMENTAL_RUNS {
        let room = &room_ids[(i * 7919) % room_ids.len()];
        let path = format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/probe{i}");
        call(
            http,
            &url,
            &token,
            reqwest::Method::PUT,
            &path,
            Some(json!({ "msgtype": "m.text", "body": format!("probe {i}") })),
        )
        .await?;
        let (answer, took) = sliding(http, &url, &token, Some(&pos), &body).await?;
        if answer["rooms"].get(room).is_none() {
            return Err(format!(
                "{}: the incremental response lacks {room}: {answer}",
                target.label
            ));
        }
        figures.incremental.push(took);
        pos = answer["pos"].as_str().ok_or("no pos")?.to_owned();
    }

    // Memory: more devices, one connection each, after as many to warm the caches.
    for i in 0..WARM_CONNECTIONS {
        open_connection(http, &url, &name, &format!("WARM{i}"), &body).await?;
    }
    let rss_before = target.pid.and_then(rss_kib);
    for i in 0..MEMORY_CONNECTIONS {
        open_connection(http, &url, &name, &format!("MEM{i}"), &body).await?;
    }
    let rss_after = target.pid.and_then(rss_kib);
    if let (Some(before), Some(after)) = (rss_before, rss_after) {
        figures.rss_per_connection_kib = Some(after.saturating_sub(before) as f64 / MEMORY_CONNECTIONS as f64);
    }
    Ok(figures)
}

/// Logs in a new device of the user and opens one connection with an initial request.
async fn open_connection(
    http: &reqwest::Client,
    url: &str,
    name: &str,
    device: &str,
    body: &Value,
) -> Result<(), String> {
    let login = json!({ "type": "m.login.password", "identifier": { "type": "m.id.user", "user": name },
        "password": "bench-password-1", "device_id": device });
    let reply = http
        .post(format!("{url}/_matrix/client/v3/login"))
        .json(&login)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json::<Value>()
        .await
        .map_err(|e| e.to_string())?;
    let token = reply["access_token"]
        .as_str()
        .ok_or_else(|| format!("login: {reply}"))?;
    sliding(http, url, token, None, body).await?;
    Ok(())
}

/// A process's resident set in KiB, from /proc.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
}
