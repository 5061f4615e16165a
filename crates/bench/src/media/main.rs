//! `accord-media-bench`: media figures for Accord beside Synapse, measured in one run.
//!
//! Run by `scripts/media-bench` (through `tests/synapse/run.sh`, which starts a Synapse and an
//! Accord binary on loopback and passes their addresses and process ids in `INTEROP_*`
//! variables). For each server, with a user registered on it:
//!
//! - upload and download rate of a 10 MiB file (`POST /_matrix/media/v3/upload`, then the
//!   authenticated `GET /_matrix/client/v1/media/download`), ten times each, median MB/s;
//! - thumbnails: 30 distinct 1024x768 PNGs, each uploaded and then asked for a 96x96 crop
//!   (Synapse makes its thumbnails at upload, Accord at the first request, so each pair counts
//!   both), pairs per second; then the same thumbnails again (served from the store), per second;
//! - memory: the server's RSS before and at its peak (sampled every 20 ms) while 20 uploads of
//!   50 MiB run at once.
//!
//! Prints a Markdown table for docs/benchmarks.md.

use std::{
    io::Cursor,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

#[path = "../register.rs"]
mod register;

use register::register;
use serde_json::Value;

/// A server under test.
struct Target {
    label: &'static str,
    url: String,
    pid: u32,
}

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set: run this through scripts/media-bench"))
}

/// What one server measured.
#[derive(Default)]
struct Figures {
    upload_mb_s: f64,
    download_mb_s: f64,
    first_thumbnails_s: f64,
    cached_thumbnails_s: f64,
    rss_before_mib: u64,
    rss_peak_mib: u64,
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let pid =
        |name: &str| -> Result<u32, String> { env(name)?.trim().parse().map_err(|_| format!("{name} is not a pid")) };
    let targets = [
        Target {
            label: "Accord",
            url: env("INTEROP_ACCORD_URL")?,
            pid: pid("INTEROP_ACCORD_PID")?,
        },
        Target {
            label: "Synapse",
            url: env("INTEROP_SYNAPSE_URL")?,
            pid: pid("INTEROP_SYNAPSE_PID")?,
        },
    ];
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(32)
        .build()
        .map_err(|e| e.to_string())?;
    let mut all = Vec::new();
    for target in &targets {
        eprintln!("media-bench: {} at {} (pid {})", target.label, target.url, target.pid);
        all.push(measure(&http, target).await?);
    }
    let (accord, synapse) = (&all[0], &all[1]);
    let ratio = |a: f64, s: f64| {
        if s > 0.0 {
            format!("{:.1}x", a / s)
        } else {
            "-".to_owned()
        }
    };
    println!("| Measure | Accord | Synapse | Accord / Synapse |");
    println!("|---|---|---|---|");
    println!(
        "| upload, 10 MiB file, median of 10 | {:.0} MB/s | {:.0} MB/s | {} |",
        accord.upload_mb_s,
        synapse.upload_mb_s,
        ratio(accord.upload_mb_s, synapse.upload_mb_s)
    );
    println!(
        "| download (authenticated), 10 MiB file, median of 10 | {:.0} MB/s | {:.0} MB/s | {} |",
        accord.download_mb_s,
        synapse.download_mb_s,
        ratio(accord.download_mb_s, synapse.download_mb_s)
    );
    println!(
        "| upload of a 1024x768 PNG + its first 96x96 crop thumbnail | {:.1} /s | {:.1} /s | {} |",
        accord.first_thumbnails_s,
        synapse.first_thumbnails_s,
        ratio(accord.first_thumbnails_s, synapse.first_thumbnails_s)
    );
    println!(
        "| the same thumbnail again (stored) | {:.0} /s | {:.0} /s | {} |",
        accord.cached_thumbnails_s,
        synapse.cached_thumbnails_s,
        ratio(accord.cached_thumbnails_s, synapse.cached_thumbnails_s)
    );
    println!(
        "| RSS before / peak during 20 concurrent 50 MiB uploads | {} / {} MiB (+{}) | {} / {} MiB (+{}) | {} |",
        accord.rss_before_mib,
        accord.rss_peak_mib,
        accord.rss_peak_mib.saturating_sub(accord.rss_before_mib),
        synapse.rss_before_mib,
        synapse.rss_peak_mib,
        synapse.rss_peak_mib.saturating_sub(synapse.rss_before_mib),
        ratio(synapse.rss_peak_mib as f64, accord.rss_peak_mib.max(1) as f64) + " less at peak"
    );
    Ok(())
}

async fn measure(http: &reqwest::Client, target: &Target) -> Result<Figures, String> {
    let (_, token) = register(http, &target.url, &format!("mediabench{}", std::process::id())).await?;
    let mut figures = Figures::default();

    // 10 MiB, ten uploads of distinct bytes and ten downloads.
    let size = 10 * 1024 * 1024;
    let mut uploads = Vec::new();
    let mut downloads = Vec::new();
    for round in 0..10u64 {
        let bytes = noise(size, round + 1);
        let started = Instant::now();
        let mxc = upload(http, &target.url, &token, bytes, "application/octet-stream").await?;
        uploads.push(started.elapsed());
        let started = Instant::now();
        let got = get(
            http,
            &target.url,
            &token,
            &format!("/_matrix/client/v1/media/download/{mxc}"),
        )
        .await?;
        downloads.push(started.elapsed());
        if got.len() != size {
            return Err(format!("{}: downloaded {} bytes of {size}", target.label, got.len()));
        }
    }
    let mb_s = |times: &mut Vec<Duration>| {
        times.sort_unstable();
        size as f64 / 1e6 / times[times.len() / 2].as_secs_f64()
    };
    figures.upload_mb_s = mb_s(&mut uploads);
    figures.download_mb_s = mb_s(&mut downloads);

    // Thumbnails: upload + first thumbnail, then the stored one again.
    let images: Vec<Vec<u8>> = (0..30).map(png).collect();
    let started = Instant::now();
    let mut ids = Vec::new();
    for image in images {
        let mxc = upload(http, &target.url, &token, image, "image/png").await?;
        let thumb = format!("/_matrix/client/v1/media/thumbnail/{mxc}?width=96&height=96&method=crop");
        get(http, &target.url, &token, &thumb).await?;
        ids.push(thumb);
    }
    figures.first_thumbnails_s = ids.len() as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    for _ in 0..10 {
        for thumb in &ids {
            get(http, &target.url, &token, thumb).await?;
        }
    }
    figures.cached_thumbnails_s = (ids.len() * 10) as f64 / started.elapsed().as_secs_f64();

    // Memory during 20 concurrent 50 MiB uploads.
    figures.rss_before_mib = rss_kib(target.pid)? / 1024;
    let peak = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done, pid) = (peak.clone(), done.clone(), target.pid);
        tokio::spawn(async move {
            while !done.load(Ordering::SeqCst) {
                if let Ok(kib) = rss_kib(pid) {
                    peak.fetch_max(kib, Ordering::SeqCst);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let mut tasks = Vec::new();
    for i in 0..20u64 {
        let (http, url, token) = (http.clone(), target.url.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            upload(
                &http,
                &url,
                &token,
                noise(50 * 1024 * 1024, 100 + i),
                "application/octet-stream",
            )
            .await
        }));
    }
    for task in tasks {
        task.await.map_err(|e| e.to_string())??;
    }
    done.store(true, Ordering::SeqCst);
    sampler.await.map_err(|e| e.to_string())?;
    figures.rss_peak_mib = peak.load(Ordering::SeqCst) / 1024;
    Ok(figures)
}

/// `len` bytes of noise unique to `seed` (incompressible, never deduplicated).
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A 1024x768 PNG, different for each `seed`.
fn png(seed: u64) -> Vec<u8> {
    let image = image::RgbImage::from_fn(1024, 768, |x, y| {
        image::Rgb([
            (x as u64 + seed) as u8,
            (y as u64 * 3 + seed) as u8,
            ((x ^ y) as u64 + seed) as u8,
        ])
    });
    let mut bytes = Vec::new();
    let _ = image::DynamicImage::ImageRgb8(image).write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png);
    bytes
}

/// The resident set of a process, KiB.
fn rss_kib(pid: u32) -> Result<u64, String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| e.to_string())?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| format!("no VmRSS for pid {pid}"))
}

/// Uploads and returns `server/media_id`.
async fn upload(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    bytes: Vec<u8>,
    content_type: &str,
) -> Result<String, String> {
    let reply = http
        .post(format!("{url}/_matrix/media/v3/upload"))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(bytes)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = reply.status();
    let body: Value = reply.json().await.map_err(|e| e.to_string())?;
    body["content_uri"]
        .as_str()
        .and_then(|uri| uri.strip_prefix("mxc://"))
        .map(str::to_owned)
        .ok_or_else(|| format!("upload at {url}: HTTP {status} {body}"))
}

async fn get(http: &reqwest::Client, url: &str, token: &str, path: &str) -> Result<Vec<u8>, String> {
    let reply = http
        .get(format!("{url}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = reply.status();
    let bytes = reply.bytes().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("GET {path}: HTTP {status} {}", String::from_utf8_lossy(&bytes)));
    }
    Ok(bytes.to_vec())
}
