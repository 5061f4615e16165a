//! `accord-bench`: starts an `accord` binary on loopback with a fresh database and measures
//! message send throughput (1 and 16 concurrent senders), send latency (p50/p99), incremental
//! `/sync` latency, long-poll wake-up latency, the server's CPU time per send, and its RSS
//! with 1,000 rooms.
//!
//! Usage: `accord-bench [PATH_TO_ACCORD] [MESSAGES]` (defaults: `target/release/accord`, 2000).
//! Prints a Markdown table for docs/benchmarks.md.

mod client;
mod server;
mod stats;

use std::time::{Duration, Instant};

use client::Client;
use serde_json::json;
use stats::Latencies;

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut args = std::env::args().skip(1);
    let binary = args.next().unwrap_or_else(|| "target/release/accord".to_owned());
    let messages: usize = args
        .next()
        .map(|n| n.parse().map_err(|_| "MESSAGES must be a number"))
        .transpose()?
        .unwrap_or(2000);

    let server = server::Server::start(&binary).await?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .map_err(|e| e.to_string())?;
    let client = Client::new(http, server.base_url.clone());
    eprintln!(
        "bench: server {} (pid {}), {messages} messages per run",
        server.base_url,
        server.pid()
    );

    let mut users = Vec::new();
    for i in 0..16 {
        users.push(client.register(&format!("bench{i}")).await?);
    }
    let room = client
        .create_room(&users[0], json!({ "preset": "public_chat" }))
        .await?;
    for user in &users[1..] {
        client.join(user, &room).await?;
    }

    // Sequential sends from one user.
    let ticks_before = server.cpu_ticks()?;
    let switches_before = server.context_switches()?;
    let single = client.send_many(&users[..1], &room, messages).await?;
    let single_cpu = server.cpu_ticks()? - ticks_before;
    let single_switches = server.context_switches()?.saturating_sub(switches_before);
    // 16 concurrent senders, `messages` in total.
    let ticks_before = server.cpu_ticks()?;
    let concurrent = client.send_many(&users, &room, messages).await?;
    let concurrent_cpu = server.cpu_ticks()? - ticks_before;
    // Server CPU per send in microseconds (a tick is 10 ms).
    let per_send = |ticks: u64| ticks as f64 * 10_000.0 / messages as f64;

    // Incremental /sync latency: one new message, then a sync from the previous token.
    let mut since = client.sync(&users[1], None, 0).await?;
    let mut sync_latency = Latencies::default();
    for i in 0..200 {
        client.send(&users[0], &room, &format!("sync probe {i}")).await?;
        let started = Instant::now();
        since = client.sync(&users[1], Some(&since), 0).await?;
        sync_latency.push(started.elapsed());
    }

    // Long-poll wake-up: time from the send's response to the waiting /sync's response.
    let mut wake_latency = Latencies::default();
    for i in 0..50 {
        let waiter = {
            let client = client.clone();
            let user = users[1].clone();
            let since = since.clone();
            tokio::spawn(async move { (client.sync(&user, Some(&since), 30_000).await, Instant::now()) })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        client.send(&users[0], &room, &format!("wake probe {i}")).await?;
        let sent = Instant::now();
        let (result, woke) = waiter.await.map_err(|e| e.to_string())?;
        since = result?;
        wake_latency.push(woke.saturating_duration_since(sent));
    }

    let rss_before = server.rss_kib()?;
    for i in 0..1000 {
        client
            .create_room(&users[i % users.len()], json!({ "name": format!("room {i}") }))
            .await?;
    }
    let rss_after = server.rss_kib()?;

    println!("| Measure | Value |");
    println!("|---|---|");
    println!("| send throughput, 1 sender | {:.0} events/s |", single.throughput());
    println!(
        "| send latency, 1 sender, p50 / p99 | {} / {} |",
        single.latencies.p50(),
        single.latencies.p99()
    );
    println!(
        "| send throughput, 16 senders | {:.0} events/s |",
        concurrent.throughput()
    );
    println!(
        "| send latency, 16 senders, p50 / p99 | {} / {} |",
        concurrent.latencies.p50(),
        concurrent.latencies.p99()
    );
    println!(
        "| server CPU per send, 1 sender / 16 senders | {:.0} µs / {:.0} µs |",
        per_send(single_cpu),
        per_send(concurrent_cpu)
    );
    println!(
        "| server context switches per send, 1 sender | {:.1} |",
        single_switches as f64 / messages as f64
    );
    println!(
        "| incremental /sync (one new event), p50 / p99 | {} / {} |",
        sync_latency.p50(),
        sync_latency.p99()
    );
    println!(
        "| long-poll /sync wake-up after a send, p50 / p99 | {} / {} |",
        wake_latency.p50(),
        wake_latency.p99()
    );
    println!(
        "| server RSS before / after creating 1,000 rooms | {} MiB / {} MiB |",
        rss_before / 1024,
        rss_after / 1024
    );
    server.stop();
    Ok(())
}
