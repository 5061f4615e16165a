//! `accord-fed-bench`: federation figures for Accord beside Synapse, measured in one run.
//!
//! Run by `scripts/fed-bench` (through `tests/synapse/run.sh`, which starts a Synapse and an
//! Accord binary on loopback with certificates from a test CA and passes their addresses in
//! `INTEROP_*` variables). This process starts its own Accord server in-process ("the
//! sender", with a certificate from the same CA) and measures, for each target (the Accord
//! binary, then Synapse):
//!
//! - inbound federation rate: the sender joins a room on the target, then sends `MESSAGES`
//!   valid signed PDUs (a chain of messages) in transactions of 50, one transaction after the
//!   other; the figure is PDUs accepted per second of wall time;
//! - join time: a room on the sender with 1,000 state events is joined by a user of the
//!   target through the target's client API (`POST /join`); the figure is that call's time.
//!
//! Prints a Markdown table for docs/benchmarks.md.

mod forge;
#[path = "../register.rs"]
mod register;

use std::time::{Duration, Instant};

use register::register;

use accord_testkit::TestServer;
use ruma::{OwnedServerName, api::federation::transactions::send_transaction_message::v1 as send_transaction};
use serde_json::{Value, json};

/// A server under test, reached through its client API and its federation name.
struct Target {
    label: &'static str,
    client_url: String,
    server_name: OwnedServerName,
}

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set: run this through scripts/fed-bench"))
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), String> {
    let messages: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse().map_err(|_| "MESSAGES must be a number"))
        .transpose()?
        .unwrap_or(2000);
    let parse_name = |s: String| OwnedServerName::try_from(s).map_err(|e| e.to_string());
    let targets = [
        Target {
            label: "Accord",
            client_url: env("INTEROP_ACCORD_URL")?,
            server_name: parse_name(env("INTEROP_ACCORD_SERVER")?)?,
        },
        Target {
            label: "Synapse",
            client_url: env("INTEROP_SYNAPSE_URL")?,
            server_name: parse_name(env("INTEROP_SYNAPSE_SERVER")?)?,
        },
    ];
    let sender = start_sender().await?;
    let http = reqwest::Client::new();
    let bench = sender.register("bench", "bench-password-1").await;

    let mut rates = Vec::new();
    for target in &targets {
        let rate = inbound_rate(&http, &sender, &bench, target, messages).await?;
        eprintln!(
            "fed-bench: {} accepted {messages} PDUs at {rate:.0} PDUs/s",
            target.label
        );
        rates.push(rate);
    }

    // A room on the sender with 1,000 state events, joined from each target.
    let big = sender
        .create_room(&bench, json!({ "preset": "public_chat", "room_alias_name": "big" }))
        .await;
    for i in 0..1000 {
        sender
            .put(
                &format!("/_matrix/client/v3/rooms/{big}/state/m.bench.state/{i}"),
                Some(&bench.token),
                json!({ "i": i }),
            )
            .await
            .ok();
    }
    let mut joins = Vec::new();
    for target in &targets {
        let took = join_time(&http, &sender, target, &big).await?;
        eprintln!("fed-bench: {} joined the 1,000-state room in {took:?}", target.label);
        joins.push(took);
    }

    println!("| Figure | Accord | Synapse | Accord / Synapse |");
    println!("|---|---|---|---|");
    println!(
        "| Inbound federation, {messages} signed PDUs into one room (PDUs/s) | {:.0} | {:.0} | {:.1}x |",
        rates[0],
        rates[1],
        rates[0] / rates[1]
    );
    println!(
        "| Join a remote room with 1,000 state events (ms) | {:.0} | {:.0} | {:.1}x faster |",
        joins[0].as_secs_f64() * 1000.0,
        joins[1].as_secs_f64() * 1000.0,
        joins[1].as_secs_f64() / joins[0].as_secs_f64()
    );
    Ok(())
}

/// The in-process sending server, named `127.0.0.1:<port>` with the CA's certificate.
async fn start_sender() -> Result<TestServer, String> {
    let cert = env("INTEROP_BENCH_CERT")?;
    let key = env("INTEROP_BENCH_KEY")?;
    let ca = env("INTEROP_CA_CERT")?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let name = OwnedServerName::try_from(format!("127.0.0.1:{port}")).map_err(|e| e.to_string())?;
    Ok(TestServer::start_with(|c| {
        c.server_name = name;
        c.federation.enabled = true;
        c.federation.bind = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        c.federation.tls_cert = Some(cert.into());
        c.federation.tls_key = Some(key.into());
        c.federation.tls_ca_file = Some(ca.into());
    })
    .await)
}

async fn client_call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: &str,
    body: Value,
) -> Result<Value, String> {
    let reply = http
        .request(method, &url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = reply.status();
    let value: Value = reply.json().await.map_err(|e| e.to_string())?;
    if status.is_success() {
        Ok(value)
    } else {
        Err(format!("{url}: {status} {value}"))
    }
}

/// PDUs per second the target accepts from the sender, one transaction of 50 at a time.
async fn inbound_rate(
    http: &reqwest::Client,
    sender: &TestServer,
    bench: &accord_testkit::TestUser,
    target: &Target,
    messages: usize,
) -> Result<f64, String> {
    let localpart = format!("host{}", target.label.to_lowercase());
    let (_, token) = register(http, &target.client_url, &localpart).await?;
    let alias = format!("rate{}", target.label.to_lowercase());
    let created = client_call(
        http,
        reqwest::Method::POST,
        format!("{}/_matrix/client/v3/createRoom", target.client_url),
        &token,
        json!({ "preset": "public_chat", "room_alias_name": alias, "room_version": "11" }),
    )
    .await?;
    let room = created["room_id"]
        .as_str()
        .ok_or("createRoom gave no room_id")?
        .to_owned();
    sender
        .join(bench, &format!("#{alias}:{}", target.server_name))
        .await
        .ok();

    let pdus = forge::message_chain(sender, &room, &bench.user_id, messages)?;
    let federation = sender
        .running()
        .services
        .federation
        .as_ref()
        .ok_or("federation is off")?;
    let started = Instant::now();
    let mut refused = 0;
    for (i, chunk) in pdus.chunks(50).enumerate() {
        let mut request = send_transaction::Request::new(
            ruma::OwnedTransactionId::from(format!("bench-{}-{i}", target.label)),
            sender.config.server_name.clone(),
            ruma::MilliSecondsSinceUnixEpoch::now(),
        );
        request.pdus = chunk.to_vec();
        // Synapse answers 429 while another transaction from the same origin is in flight
        // (the sender's own queue may be sending one); retry like a real sender would.
        let response = loop {
            match federation.client().send(&target.server_name, request.clone()).await {
                Err(accord_federation::Error::Remote { status: 429, .. }) => {
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                other => break other.map_err(|e| format!("{}: transaction {i}: {e}", target.label))?,
            }
        };
        refused += response.pdus.values().filter(|r| r.is_err()).count();
    }
    let elapsed = started.elapsed();
    if refused > 0 {
        return Err(format!("{} refused {refused} of the benchmark's PDUs", target.label));
    }
    Ok(messages as f64 / elapsed.as_secs_f64())
}

/// How long a user of the target takes to join `room` on the sender (the client's `/join`).
async fn join_time(
    http: &reqwest::Client,
    sender: &TestServer,
    target: &Target,
    room: &str,
) -> Result<Duration, String> {
    let localpart = format!("joiner{}", target.label.to_lowercase());
    let (_, token) = register(http, &target.client_url, &localpart).await?;
    let url = format!(
        "{}/_matrix/client/v3/join/{}?server_name={}",
        target.client_url,
        accord_testkit::urlencode(room),
        sender.config.server_name
    );
    let started = Instant::now();
    client_call(http, reqwest::Method::POST, url, &token, json!({})).await?;
    Ok(started.elapsed())
}
