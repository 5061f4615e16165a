//! `accord-appservice-bench`: events per second delivered to an application service, Accord
//! beside Synapse in one run.
//!
//! Run by `scripts/appservice-bench` (through `tests/synapse/run.sh`, which starts a Synapse
//! and an Accord binary on loopback, both with the registration the script wrote, and passes
//! their addresses in `INTEROP_*` variables). The benchmark is the service: it listens on
//! `BENCH_AS_PORT` and counts the events each transaction brings. For each server, the
//! bridge's `BENCH_GHOSTS` (8) users post `BENCH_EVENTS` (2000) messages into a room, 16 sends
//! in flight, as a busy bridge does; every message comes back to the bridge in transactions.
//!
//! Figures: messages sent per second (the acknowledgements), events delivered per second (from
//! the first send to the last event's arrival at the service), the delay of the last event
//! after its send was acknowledged, and events per transaction (batching). Prints a Markdown
//! table for docs/benchmarks.md.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

#[path = "../api.rs"]
mod api;

use api::{call, create_room, fill};
use axum::{
    Json, Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    routing::{get, put},
};
use serde_json::{Value, json};

const CONCURRENCY: usize = 16;

/// What the service saw of one room.
#[derive(Debug, Default, Clone)]
struct RoomSeen {
    events: usize,
    transactions: usize,
    last: Option<Instant>,
}

#[derive(Default)]
struct Receiver {
    hs_token: String,
    rooms: Mutex<HashMap<String, RoomSeen>>,
    refused: Mutex<usize>,
}

async fn transaction(
    State(receiver): State<Arc<Receiver>>,
    Path(_txn): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let expected = format!("Bearer {}", receiver.hs_token);
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        *receiver.refused.lock().expect("receiver") += 1;
        return (StatusCode::FORBIDDEN, Json(json!({ "errcode": "M_FORBIDDEN" })));
    }
    let now = Instant::now();
    let mut counted: HashMap<String, usize> = HashMap::new();
    for event in body["events"].as_array().into_iter().flatten() {
        let bench = event["content"]["body"]
            .as_str()
            .is_some_and(|b| b.starts_with("bench-"));
        if let (true, Some(room)) = (bench, event["room_id"].as_str()) {
            *counted.entry(room.to_owned()).or_default() += 1;
        }
    }
    let mut rooms = receiver.rooms.lock().expect("receiver");
    for (room, count) in counted {
        let seen = rooms.entry(room).or_default();
        seen.events += count;
        seen.transactions += 1;
        seen.last = Some(now);
    }
    (StatusCode::OK, Json(json!({})))
}

async fn not_found() -> (StatusCode, Json<Value>) {
    (StatusCode::NOT_FOUND, Json(json!({ "errcode": "M_NOT_FOUND" })))
}

struct Figures {
    sent_per_s: f64,
    delivered_per_s: f64,
    last_delay: Duration,
    per_transaction: f64,
}

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set: run this through scripts/appservice-bench"))
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let port: u16 = env("BENCH_AS_PORT")?
        .parse()
        .map_err(|e| format!("BENCH_AS_PORT: {e}"))?;
    let as_token = env("BENCH_AS_TOKEN")?;
    let receiver = Arc::new(Receiver {
        hs_token: env("BENCH_HS_TOKEN")?,
        ..Receiver::default()
    });
    let app = Router::new()
        .route("/_matrix/app/v1/transactions/{txn}", put(transaction))
        .route("/_matrix/app/v1/users/{user}", get(not_found))
        .route("/_matrix/app/v1/rooms/{alias}", get(not_found))
        .with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| format!("bind {port}: {e}"))?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let events = env_number("BENCH_EVENTS", 2000);
    let ghosts = env_number("BENCH_GHOSTS", 8);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .map_err(|e| e.to_string())?;

    let mut rows = Vec::new();
    for (label, url_var) in [("Accord", "INTEROP_ACCORD_URL"), ("Synapse", "INTEROP_SYNAPSE_URL")] {
        let url = env(url_var)?;
        eprintln!("appservice-bench: {label}: {events} messages from {ghosts} bridge users");
        let figures = run(&http, &url, &as_token, &receiver, events, ghosts, label).await?;
        rows.push((label, figures));
    }
    let refused = *receiver.refused.lock().expect("receiver");
    if refused > 0 {
        return Err(format!("{refused} transactions came without the hs_token"));
    }
    println!("| Server | messages sent/s | events delivered/s | last event after its send | events per transaction |");
    println!("|---|---|---|---|---|");
    for (label, f) in &rows {
        println!(
            "| {label} | {:.0} | {:.0} | {:.0} ms | {:.1} |",
            f.sent_per_s,
            f.delivered_per_s,
            f.last_delay.as_secs_f64() * 1000.0,
            f.per_transaction
        );
    }
    if let [(_, accord), (_, synapse)] = rows.as_slice() {
        println!(
            "\nAccord delivers {:.1}x the events per second of Synapse.",
            accord.delivered_per_s / synapse.delivered_per_s
        );
    }
    Ok(())
}

fn with_user(path: &str, user: &str) -> String {
    format!("{path}?user_id={}", accord_testkit::urlencode(user))
}

async fn run(
    http: &reqwest::Client,
    url: &str,
    as_token: &str,
    receiver: &Arc<Receiver>,
    events: usize,
    ghosts: usize,
    label: &str,
) -> Result<Figures, String> {
    let whoami = call(
        http,
        url,
        as_token,
        reqwest::Method::GET,
        "/_matrix/client/v3/account/whoami",
        None,
    )
    .await?;
    let server = whoami["user_id"]
        .as_str()
        .and_then(|id| id.split_once(':'))
        .map(|(_, server)| server.to_owned())
        .ok_or_else(|| format!("whoami: {whoami}"))?;
    let room = create_room(http, url, as_token, json!({ "preset": "public_chat" })).await?;
    let mut users = Vec::new();
    for i in 0..ghosts {
        let name = format!("bench_{}_{i}", label.to_lowercase());
        call(
            http,
            url,
            as_token,
            reqwest::Method::POST,
            "/_matrix/client/v3/register",
            Some(json!({ "type": "m.login.application_service", "username": name, "inhibit_login": true })),
        )
        .await?;
        let user = format!("@{name}:{server}");
        let path = with_user(
            &format!("/_matrix/client/v3/join/{}", accord_testkit::urlencode(&room)),
            &user,
        );
        call(http, url, as_token, reqwest::Method::POST, &path, Some(json!({}))).await?;
        users.push(user);
    }
    let users = Arc::new(users);
    let start = Instant::now();
    fill(events, CONCURRENCY, |i| {
        let (http, url, token, room, users) = (
            http.clone(),
            url.to_owned(),
            as_token.to_owned(),
            room.clone(),
            users.clone(),
        );
        tokio::spawn(async move {
            let user = &users[i % users.len()];
            let path = with_user(
                &format!(
                    "/_matrix/client/v3/rooms/{}/send/m.room.message/b{i}",
                    accord_testkit::urlencode(&room)
                ),
                user,
            );
            call(
                &http,
                &url,
                &token,
                reqwest::Method::PUT,
                &path,
                Some(json!({ "msgtype": "m.text", "body": format!("bench-{i}") })),
            )
            .await
            .map(|_| ())
        })
    })
    .await?;
    let acknowledged = Instant::now();
    let deadline = acknowledged + Duration::from_secs(300);
    let seen = loop {
        let seen = receiver
            .rooms
            .lock()
            .expect("receiver")
            .get(&room)
            .cloned()
            .unwrap_or_default();
        if seen.events >= events {
            break seen;
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{label}: only {} of {events} events reached the service",
                seen.events
            ));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    if seen.events != events {
        return Err(format!(
            "{label}: {} events for {events} messages: some came twice",
            seen.events
        ));
    }
    let last = seen.last.unwrap_or(acknowledged);
    Ok(Figures {
        sent_per_s: events as f64 / acknowledged.duration_since(start).as_secs_f64(),
        delivered_per_s: events as f64 / last.duration_since(start).as_secs_f64(),
        last_delay: last.saturating_duration_since(acknowledged),
        per_transaction: seen.events as f64 / seen.transactions.max(1) as f64,
    })
}
