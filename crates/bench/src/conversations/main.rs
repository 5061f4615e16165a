//! `accord-conversations-bench`: relations, search and space figures for Accord beside
//! Synapse, measured in one run.
//!
//! Run by `scripts/conversations-bench` (through `tests/synapse/run.sh`, which starts a
//! Synapse and an Accord binary on loopback and passes their addresses in `INTEROP_*`
//! variables). For each server, with a user registered on it:
//!
//! - `/relations`: an event with 1,000 reactions (distinct keys), then 200 reads of
//!   `/relations/{event}/m.annotation` a page of 100 at a time: p50 and p99;
//! - `/search`: 100,000 messages of ten words each (a 5,000-word vocabulary, so a word is in
//!   about 200 of them) over ten rooms, then 50 searches for different words, ranked and
//!   newest first, 10 results each (each word taken from a sent message): p50 and p99;
//! - `/hierarchy`: a space of 500 rooms, then 20 walks of it, 100 rooms a page: median walk
//!   and median first page (Synapse rate-limits `/hierarchy` by a fixed rule: the waits its
//!   429s ask for are left out; only the answered requests are timed).
//!
//! Sizes can be lowered for a quick look: `BENCH_REACTIONS`, `BENCH_MESSAGES`,
//! `BENCH_SPACE_ROOMS`. Prints a Markdown table for docs/benchmarks.md.

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

/// Requests in flight while filling a server.
const FILL_CONCURRENCY: usize = 32;

/// Words in the messages' vocabulary.
const VOCABULARY: u64 = 5_000;

/// A server under test.
struct Target {
    label: &'static str,
    url: String,
}

/// What one server measured.
#[derive(Default)]
struct Figures {
    relations: Latencies,
    search_rank: Latencies,
    search_recent: Latencies,
    hierarchy_walk: Latencies,
    hierarchy_page: Latencies,
    fill_messages_s: f64,
}

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set: run this through scripts/conversations-bench"))
}

fn size(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let targets = [
        Target {
            label: "Accord",
            url: env("INTEROP_ACCORD_URL")?,
        },
        Target {
            label: "Synapse",
            url: env("INTEROP_SYNAPSE_URL")?,
        },
    ];
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .timeout(Duration::from_secs(300))
        .build()
        .map_err(|e| e.to_string())?;
    let mut all = Vec::new();
    for target in &targets {
        eprintln!("conversations-bench: {} at {}", target.label, target.url);
        all.push(measure(&http, target).await?);
    }
    let (accord, synapse) = (&all[0], &all[1]);
    let reactions = size("BENCH_REACTIONS", 1000);
    let messages = size("BENCH_MESSAGES", 100_000);
    let rooms = size("BENCH_SPACE_ROOMS", 500);
    println!("| Measure | Accord | Synapse |");
    println!("|---|---|---|");
    println!(
        "| `/relations` page of 100 on an event with {reactions} reactions, p50 / p99 | {} / {} | {} / {} |",
        accord.relations.p50(),
        accord.relations.p99(),
        synapse.relations.p50(),
        synapse.relations.p99()
    );
    println!(
        "| `/search` over {messages} messages, ranked, p50 / p99 | {} / {} | {} / {} |",
        accord.search_rank.p50(),
        accord.search_rank.p99(),
        synapse.search_rank.p50(),
        synapse.search_rank.p99()
    );
    println!(
        "| `/search` over {messages} messages, newest first, p50 / p99 | {} / {} | {} / {} |",
        accord.search_recent.p50(),
        accord.search_recent.p99(),
        synapse.search_recent.p50(),
        synapse.search_recent.p99()
    );
    println!(
        "| `/hierarchy` of a {rooms}-room space: whole walk (100 a page), median | {} | {} |",
        accord.hierarchy_walk.p50(),
        synapse.hierarchy_walk.p50()
    );
    println!(
        "| `/hierarchy` first page of 100, median | {} | {} |",
        accord.hierarchy_page.p50(),
        synapse.hierarchy_page.p50()
    );
    println!(
        "| filling: messages sent per second ({FILL_CONCURRENCY} in flight) | {:.0} /s | {:.0} /s |",
        accord.fill_messages_s, synapse.fill_messages_s
    );
    Ok(())
}

/// [`call`], timed, waiting out 429s (Synapse rate-limits `/hierarchy` by a fixed rule): the
/// answer and the time of the attempt that got it.
async fn timed(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Result<(Value, Duration), String> {
    loop {
        let started = Instant::now();
        match call(http, url, token, method.clone(), path, body.clone()).await {
            Ok(answer) => return Ok((answer, started.elapsed())),
            Err(err) if err.contains("429") => {
                let wait = err
                    .split("\"retry_after_ms\":")
                    .nth(1)
                    .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
                    .and_then(|ms| ms.parse().ok())
                    .unwrap_or(200);
                tokio::time::sleep(Duration::from_millis(wait)).await;
            }
            Err(err) => return Err(err),
        }
    }
}

/// The `n`th word of the vocabulary.
fn word(n: u64) -> String {
    const SYLLABLES: [&str; 20] = [
        "ka", "lo", "mi", "ne", "su", "ta", "ri", "po", "ve", "da", "go", "hu", "ji", "ze", "fa", "bo", "cu", "wy",
        "xe", "qo",
    ];
    let mut n = n;
    let mut word = String::new();
    for _ in 0..3 {
        word.push_str(SYLLABLES[(n % 20) as usize]);
        n /= 20;
    }
    word
}

/// A deterministic ten-word message.
fn message(i: usize) -> String {
    let mut state = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..10)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word(state % VOCABULARY)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

async fn measure(http: &reqwest::Client, target: &Target) -> Result<Figures, String> {
    let (_, token) = register(http, &target.url, &format!("convbench{}", std::process::id())).await?;
    let token = Arc::new(token);
    let url = Arc::new(target.url.clone());
    let mut figures = Figures::default();
    let put = reqwest::Method::PUT;

    // /relations on an event with many reactions.
    let room = create_room(http, &url, &token, json!({ "preset": "private_chat" })).await?;
    let root = call(
        http,
        &url,
        &token,
        put.clone(),
        &format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/root"),
        Some(json!({ "msgtype": "m.text", "body": "react to me" })),
    )
    .await?;
    let root = root["event_id"].as_str().ok_or("no event id")?.to_owned();
    let reactions = size("BENCH_REACTIONS", 1000);
    fill(reactions, FILL_CONCURRENCY, |i| {
        let (http, url, token, room, root) = (http.clone(), url.clone(), token.clone(), room.clone(), root.clone());
        tokio::spawn(async move {
            let path = format!("/_matrix/client/v3/rooms/{room}/send/m.reaction/r{i}");
            let body =
                json!({ "m.relates_to": { "rel_type": "m.annotation", "event_id": root, "key": format!("k{i}") } });
            call(&http, &url, &token, reqwest::Method::PUT, &path, Some(body))
                .await
                .map(drop)
        })
    })
    .await?;
    let path = format!("/_matrix/client/v1/rooms/{room}/relations/{root}/m.annotation?limit=100");
    for _ in 0..200 {
        let (page, took) = timed(http, &url, &token, reqwest::Method::GET, &path, None).await?;
        figures.relations.push(took);
        if page["chunk"].as_array().map_or(0, Vec::len) != 100.min(reactions) {
            return Err(format!("{}: a relations page of {}", target.label, page["chunk"]));
        }
    }
    eprintln!("conversations-bench: {}: relations done", target.label);

    // /hierarchy of a large space.
    let space = create_room(
        http,
        &url,
        &token,
        json!({ "preset": "public_chat", "name": "Big space", "creation_content": { "type": "m.space" } }),
    )
    .await?;
    let space_rooms = size("BENCH_SPACE_ROOMS", 500);
    let children = Arc::new(tokio::sync::Mutex::new(Vec::new()));
    fill(space_rooms, FILL_CONCURRENCY, |i| {
        let (http, url, token, children) = (http.clone(), url.clone(), token.clone(), children.clone());
        tokio::spawn(async move {
            let child = create_room(
                &http,
                &url,
                &token,
                json!({ "preset": "public_chat", "name": format!("Room {i}") }),
            )
            .await?;
            children.lock().await.push(child);
            Ok(())
        })
    })
    .await?;
    let server = target_server(http, &url, &token).await?;
    let children = children.lock().await.clone();
    fill(children.len(), FILL_CONCURRENCY, |i| {
        let (http, url, token, space, child, server) = (
            http.clone(),
            url.clone(),
            token.clone(),
            space.clone(),
            children[i].clone(),
            server.clone(),
        );
        tokio::spawn(async move {
            let path = format!("/_matrix/client/v3/rooms/{space}/state/m.space.child/{child}");
            call(
                &http,
                &url,
                &token,
                reqwest::Method::PUT,
                &path,
                Some(json!({ "via": [server] })),
            )
            .await
            .map(drop)
        })
    })
    .await?;
    for _ in 0..20 {
        let mut walk = Duration::ZERO;
        let mut from: Option<String> = None;
        let mut seen = 0;
        loop {
            let mut path = format!("/_matrix/client/v1/rooms/{space}/hierarchy?limit=100");
            if let Some(from) = &from {
                path.push_str(&format!("&from={from}"));
            }
            let (page, took) = timed(http, &url, &token, reqwest::Method::GET, &path, None).await?;
            walk += took;
            if from.is_none() {
                figures.hierarchy_page.push(took);
            }
            seen += page["rooms"].as_array().map_or(0, Vec::len);
            match page["next_batch"].as_str() {
                Some(next) => from = Some(next.to_owned()),
                None => break,
            }
        }
        figures.hierarchy_walk.push(walk);
        if seen != space_rooms + 1 {
            return Err(format!(
                "{}: the walk saw {seen} rooms of {}",
                target.label,
                space_rooms + 1
            ));
        }
    }
    eprintln!("conversations-bench: {}: hierarchy done", target.label);

    // /search over many messages.
    let mut rooms = Vec::new();
    for _ in 0..10 {
        rooms.push(create_room(http, &url, &token, json!({ "preset": "private_chat" })).await?);
    }
    let rooms = Arc::new(rooms);
    let messages = size("BENCH_MESSAGES", 100_000);
    let started = Instant::now();
    fill(messages, FILL_CONCURRENCY, |i| {
        let (http, url, token, rooms) = (http.clone(), url.clone(), token.clone(), rooms.clone());
        tokio::spawn(async move {
            let room = &rooms[i % rooms.len()];
            let path = format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/m{i}");
            call(
                &http,
                &url,
                &token,
                reqwest::Method::PUT,
                &path,
                Some(json!({ "msgtype": "m.text", "body": message(i) })),
            )
            .await
            .map(drop)
        })
    })
    .await?;
    figures.fill_messages_s = messages as f64 / started.elapsed().as_secs_f64();
    eprintln!(
        "conversations-bench: {}: {messages} messages sent ({:.0}/s)",
        target.label, figures.fill_messages_s
    );
    let search = |term: String, order: &'static str| {
        let (http, url, token) = (http.clone(), url.clone(), token.clone());
        async move {
            let body = json!({ "search_categories": { "room_events": { "search_term": term, "order_by": order, "filter": { "limit": 10 } } } });
            timed(
                &http,
                &url,
                &token,
                reqwest::Method::POST,
                "/_matrix/client/v3/search",
                Some(body),
            )
            .await
        }
    };
    // One search first, so the index has caught up (Accord) before the timed ones.
    let term = |n: usize| {
        message(n * 1_999 % messages)
            .split(' ')
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    search(term(0), "rank").await?;
    for n in 1..=50 {
        for (order, latencies) in [
            ("rank", &mut figures.search_rank),
            ("recent", &mut figures.search_recent),
        ] {
            let (answer, took) = search(term(n), order).await?;
            latencies.push(took);
            if answer["search_categories"]["room_events"]["results"]
                .as_array()
                .is_none_or(Vec::is_empty)
            {
                return Err(format!("{}: no hit for {}: {answer}", target.label, term(n)));
            }
        }
    }
    eprintln!("conversations-bench: {}: search done", target.label);
    Ok(figures)
}

/// The server name of the bench user's server (for `via`).
async fn target_server(http: &reqwest::Client, url: &str, token: &str) -> Result<String, String> {
    let whoami = call(
        http,
        url,
        token,
        reqwest::Method::GET,
        "/_matrix/client/v3/account/whoami",
        None,
    )
    .await?;
    whoami["user_id"]
        .as_str()
        .and_then(|user| user.split_once(':'))
        .map(|(_, server)| server.to_owned())
        .ok_or_else(|| format!("whoami: {whoami}"))
}
