//! Metrics: a real Prometheus (Debian's) scrapes Accord's metrics listener, the target is up
//! and the listed series are there with figures that follow what happened; `/health` and
//! `/ready` answer; the client listener does not serve `/metrics`.

use std::time::Duration;

use accord_testkit::{TestServer, prometheus::TestPrometheus};
use serde_json::{Value, json};

/// The series every Accord exposes (counters get `_total`, histograms `_bucket` etc.).
const SERIES: &[&str] = &[
    "accord_http_requests_total",
    "accord_http_request_duration_seconds_bucket",
    "accord_http_requests_in_flight",
    "accord_events_persisted_total",
    "accord_users",
    "accord_rooms",
    "accord_audit_records",
    "accord_storage_disk_bytes",
    "accord_storage_memory_bytes",
    "accord_storage_keys",
    "accord_process_resident_memory_bytes",
    "accord_process_cpu_seconds_total",
    "accord_process_open_fds",
    "accord_process_threads",
];

fn value(sample: &Value) -> f64 {
    sample["value"][1]
        .as_str()
        .and_then(|text| text.parse().ok())
        .unwrap_or(f64::NAN)
}

#[tokio::test]
async fn a_real_prometheus_scrapes_accord_and_finds_the_series() {
    let server = TestServer::start_with(|config| {
        config.metrics.enabled = true;
        config.metrics.bind = "127.0.0.1:0".parse().expect("address");
    })
    .await;
    let metrics = server.running().metrics_addr.expect("metrics listener");
    let alice = server.register("alice", "pw-alice-1").await;
    let room = server.create_room(&alice, json!({})).await;
    for n in 0..5 {
        server.send_text(&alice, &room, &format!("hello {n}")).await;
    }
    // A /sync long-poll open while Prometheus scrapes: one sync connection in flight.
    let since = server.sync(&alice, None, 0, None).await["next_batch"]
        .as_str()
        .expect("next_batch")
        .to_owned();
    let long_poll = {
        let base = format!("http://{}", server.running().client_addr);
        let token = alice.token.clone();
        tokio::spawn(async move {
            reqwest::Client::new()
                .get(format!("{base}/_matrix/client/v3/sync?since={since}&timeout=20000"))
                .bearer_auth(token)
                .send()
                .await
        })
    };

    let prometheus = TestPrometheus::start(metrics);
    let target = prometheus.wait_target_up(Duration::from_secs(60)).await;
    assert_eq!(target["scrapeUrl"], format!("http://{metrics}/metrics"));
    // A scrape after the first one sees the long-poll (the first may have raced it).
    tokio::time::sleep(Duration::from_secs(2)).await;
    for series in SERIES {
        let found = prometheus.query(series).await;
        assert!(!found.is_empty(), "Prometheus has no {series}");
    }
    let sends = prometheus
        .query(r#"accord_http_requests_total{listener="client",route=~"/_matrix/client/v3/rooms/.*/send/.*",status="200"}"#)
        .await;
    assert_eq!(sends.iter().map(value).sum::<f64>(), 5.0, "{sends:?}");
    let syncing = prometheus
        .query(r#"accord_http_requests_in_flight{route="/_matrix/client/v3/sync"}"#)
        .await;
    assert_eq!(syncing.iter().map(value).sum::<f64>(), 1.0, "{syncing:?}");
    let users = prometheus.query("accord_users").await;
    assert_eq!(value(&users[0]), 1.0);
    let events = prometheus.query("accord_events_persisted_total").await;
    assert!(value(&events[0]) >= 10.0, "room creation and five messages: {events:?}");
    let disk = prometheus
        .query(r#"accord_storage_keys{table="shorteventid_pdu"}"#)
        .await;
    assert_eq!(disk.len(), 1, "one series per table");
    let memory = prometheus.query("accord_process_resident_memory_bytes").await;
    assert!(value(&memory[0]) > 1_000_000.0);
    long_poll.abort();

    // Health and readiness on the metrics listener; /metrics is not on the client listener.
    let http = reqwest::Client::new();
    let health = http
        .get(format!("http://{metrics}/health"))
        .send()
        .await
        .expect("health");
    assert_eq!(health.status(), 200);
    let ready = http.get(format!("http://{metrics}/ready")).send().await.expect("ready");
    assert_eq!(ready.status(), 200);
    assert_eq!(server.get("/metrics", None).await.status, 404);
}
