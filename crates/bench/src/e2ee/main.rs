//! `accord-e2ee-bench`: end-to-end encryption figures for two federating Accord servers, both
//! run in this process on loopback (TLS from a throwaway test CA, RocksDB in temp dirs):
//!
//! - `/keys/query` latency for 100 users of server B asked by a user of server A: through B
//!   each time (no shared room, so A keeps no copy), from A's copy of their device lists (they
//!   share a room, so B keeps A's copy fresh), and for 100 local users;
//! - to-device throughput: `MESSAGES` messages sent one request after the other, counted from
//!   the first send until the receiving device's `/sync` has all of them, to a device on the
//!   same server and to one on the other server.
//!
//! Usage: `accord-e2ee-bench [MESSAGES]` (default 2000). Prints a Markdown table.

use std::time::{Duration, Instant};

use accord_testkit::{TestServer, TestUser, ca::TestCa};
use ruma::{CanonicalJsonObject, signatures::Ed25519KeyPair};
use serde_json::{Map, Value, json};

/// Users whose keys each query asks for.
const USERS: usize = 100;
/// Queries per latency figure.
const QUERIES: usize = 200;

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), String> {
    let messages: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse().map_err(|_| "MESSAGES must be a number"))
        .transpose()?
        .unwrap_or(2000);
    let ca = TestCa::new();
    let quiet = |c: &mut accord_core::Config| c.logging.filter = "warn".to_owned();
    let a = TestServer::start_federating(&ca, quiet).await;
    let b = TestServer::start_federating(&ca, quiet).await;
    let asker = a.register("asker", "bench-password-1").await;
    eprintln!("e2ee-bench: registering {USERS} users with device keys on each server");
    let remote_users = users_with_keys(&b, "remote").await?;
    let local_users = users_with_keys(&a, "local").await?;

    let mut rows = Vec::new();
    let through_b = query_latency(&a, &asker, &remote_users).await?;
    rows.push((
        "`/keys/query`, 100 users of the other server, asked of it each time",
        through_b,
    ));

    // Share a room: B's users join a room on A, so A keeps their lists (fresh through B's EDUs).
    let room = a.create_room(&asker, json!({ "preset": "public_chat" })).await;
    for user in &remote_users {
        b.join(user, &room).await.ok();
    }
    query_latency(&a, &asker, &remote_users).await?; // fills A's copy
    wait_for_copies(&a, &remote_users).await?;
    let cached = query_latency(&a, &asker, &remote_users).await?;
    rows.push((
        "`/keys/query`, 100 users of the other server, sharing a room (A's copy)",
        cached,
    ));
    let local = query_latency(&a, &asker, &local_users).await?;
    rows.push(("`/keys/query`, 100 local users", local));

    println!("| Measure | p50 | p99 |");
    println!("|---|---|---|");
    for (label, samples) in rows {
        println!(
            "| {label} | {} | {} |",
            ms(percentile(&samples, 50.0)),
            ms(percentile(&samples, 99.0))
        );
    }

    let receiver_local = &local_users[0];
    let local_rate = to_device_rate(&a, &asker, &a, receiver_local, messages).await?;
    let receiver_remote = &remote_users[0];
    let remote_rate = to_device_rate(&a, &asker, &b, receiver_remote, messages).await?;
    println!();
    println!("| To-device, {messages} messages sent one after the other | messages/s |");
    println!("|---|---|");
    println!("| to a device on the same server | {local_rate:.0} |");
    println!("| to a device on the other server | {remote_rate:.0} |");
    Ok(())
}

/// `USERS` users of `server`, each with signed device keys uploaded.
async fn users_with_keys(server: &TestServer, prefix: &str) -> Result<Vec<TestUser>, String> {
    let mut users = Vec::with_capacity(USERS);
    for i in 0..USERS {
        let user = server.register(&format!("{prefix}{i}"), "bench-password-1").await;
        let keys = device_keys(&user)?;
        server
            .post(
                "/_matrix/client/v3/keys/upload",
                Some(&user.token),
                json!({ "device_keys": keys }),
            )
            .await
            .ok();
        users.push(user);
    }
    Ok(users)
}

fn device_keys(user: &TestUser) -> Result<Value, String> {
    let der = Ed25519KeyPair::generate();
    let pair = Ed25519KeyPair::from_der(&der, user.device_id.clone()).map_err(|e| e.to_string())?;
    let public = ruma::serde::Base64::<ruma::serde::base64::Standard>::new(pair.public_key().to_vec()).encode();
    let mut object: CanonicalJsonObject = serde_json::from_value(json!({
        "user_id": user.user_id,
        "device_id": user.device_id,
        "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
        "keys": {
            format!("curve25519:{}", user.device_id): "Y3VydmUyNTUxOSBrZXkgZm9yIHRoZSBiZW5jaG1hcms",
            format!("ed25519:{}", user.device_id): public,
        },
    }))
    .map_err(|e| e.to_string())?;
    ruma::signatures::sign_json(&user.user_id, &pair, &mut object).map_err(|e| e.to_string())?;
    serde_json::to_value(object).map_err(|e| e.to_string())
}

/// `QUERIES` sequential `/keys/query` calls for all of `users`; each must list every user.
async fn query_latency(server: &TestServer, asker: &TestUser, users: &[TestUser]) -> Result<Vec<Duration>, String> {
    let wanted: Map<String, Value> = users.iter().map(|u| (u.user_id.clone(), json!([]))).collect();
    let body = json!({ "device_keys": wanted });
    let mut samples = Vec::with_capacity(QUERIES);
    for _ in 0..QUERIES {
        let started = Instant::now();
        let answer = server
            .post("/_matrix/client/v3/keys/query", Some(&asker.token), body.clone())
            .await
            .ok();
        samples.push(started.elapsed());
        let answered = answer["device_keys"].as_object().map_or(0, Map::len);
        if answered != users.len() {
            return Err(format!("query answered {answered} of {} users: {answer}", users.len()));
        }
    }
    Ok(samples)
}

/// Waits until `server` holds a copy of every user's device list.
async fn wait_for_copies(server: &TestServer, users: &[TestUser]) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let db = server.running().services.db().clone();
    for user in users {
        let user_id = <&ruma::UserId>::try_from(user.user_id.as_str()).map_err(|e| e.to_string())?;
        while db.get_remote_device_list(user_id).map_err(|e| e.to_string())?.is_none() {
            if Instant::now() > deadline {
                return Err(format!("no copy of {}'s device list after 60 s", user.user_id));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok(())
}

/// Sends `count` to-device messages from `sender` (on `from`) to `receiver`'s device (on
/// `to`), one request after the other; returns messages per second until all were synced.
async fn to_device_rate(
    from: &TestServer,
    sender: &TestUser,
    to: &TestServer,
    receiver: &TestUser,
    count: usize,
) -> Result<f64, String> {
    let mut since = to.sync(receiver, None, 0, None).await["next_batch"]
        .as_str()
        .ok_or("no next_batch")?
        .to_owned();
    let started = Instant::now();
    let tag = accord_core::time::now_millis();
    for n in 0..count {
        from.put(
            &format!("/_matrix/client/v3/sendToDevice/m.bench/{tag}-{n}"),
            Some(&sender.token),
            json!({ "messages": { receiver.user_id.clone(): { receiver.device_id.clone(): { "n": n } } } }),
        )
        .await
        .ok();
    }
    let mut received = 0;
    let deadline = Instant::now() + Duration::from_secs(300);
    while received < count {
        if Instant::now() > deadline {
            return Err(format!(
                "only {received} of {count} to-device messages arrived in 300 s"
            ));
        }
        let sync = to.sync(receiver, Some(&since), 5000, None).await;
        received += sync["to_device"]["events"].as_array().map_or(0, Vec::len);
        since = sync["next_batch"].as_str().ok_or("no next_batch")?.to_owned();
    }
    Ok(count as f64 / started.elapsed().as_secs_f64())
}

fn percentile(samples: &[Duration], p: f64) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let rank = ((p / 100.0) * (sorted.len().saturating_sub(1)) as f64).round() as usize;
    sorted.get(rank).copied().unwrap_or_default()
}

fn ms(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1000.0)
}
