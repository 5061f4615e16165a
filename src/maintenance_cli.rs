//! `accord backup`, `accord restore` and `accord verify`: taking a backup of a running server
//! (through its admin API) or a stopped one (its database directly), putting one back on a
//! stopped server, and checking every stored event's hashes and signatures.

use std::path::{Path, PathBuf};

use accord_core::Config;
use clap::Args;
use serde_json::json;

/// `accord backup`'s arguments.
#[derive(Debug, Args)]
pub(crate) struct BackupArgs {
    /// A new (or empty) directory, an absolute path on the server's machine.
    #[arg(long)]
    to: PathBuf,
    /// Back up a stopped server's database directly, from this configuration.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// A running server's client API.
    #[arg(long, env = "ACCORD_ADMIN_URL", default_value = "http://127.0.0.1:8008")]
    url: String,
    /// An admin's access token, for a running server.
    #[arg(long, env = "ACCORD_ADMIN_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

/// Takes a backup; prints its manifest.
pub(crate) fn backup(args: BackupArgs) -> Result<(), String> {
    let manifest = match (&args.config, &args.token) {
        (Some(config), _) => {
            let config = Config::load(Some(config)).map_err(|err| err.to_string())?;
            let db = accord_server::open_database(&config)
                .map_err(|err| format!("{err} (for a running server, give an admin token instead of --config)"))?;
            let manifest = accord_service::backup::create(&db, &config, &args.to).map_err(|err| err.to_string())?;
            serde_json::to_value(manifest).map_err(|err| err.to_string())?
        }
        (None, Some(token)) => {
            let _ = rustls::crypto::ring::default_provider().install_default();
            crate::cli::runtime()?.block_on(async {
                let url = format!("{}/_accord/admin/v1/backup", args.url.trim_end_matches('/'));
                let response = reqwest::Client::new()
                    .post(&url)
                    .bearer_auth(token)
                    .json(&json!({ "to": args.to }))
                    .send()
                    .await
                    .map_err(|err| format!("cannot reach Accord at {}: {err}", args.url))?;
                let status = response.status();
                let body: serde_json::Value = response.json().await.map_err(|err| err.to_string())?;
                if status.is_success() {
                    Ok(body)
                } else {
                    Err(format!(
                        "{} {}: {}",
                        status.as_u16(),
                        body["errcode"].as_str().unwrap_or_default(),
                        body["error"].as_str().unwrap_or_default()
                    ))
                }
            })?
        }
        (None, None) => {
            return Err(
                "give an admin token (--token or ACCORD_ADMIN_TOKEN) for a running server, or --config for a stopped one"
                    .to_owned(),
            );
        }
    };
    println!(
        "{}",
        serde_json::to_string_pretty(&manifest).map_err(|err| err.to_string())?
    );
    Ok(())
}

/// Puts the backup in `from` back for the stopped server of `config`.
pub(crate) fn restore(from: &Path, config: Option<&Path>, replace: bool) -> Result<(), String> {
    let config = Config::load(config).map_err(|err| err.to_string())?;
    let (manifest, moved) = accord_service::backup::restore(from, &config, replace).map_err(|err| err.to_string())?;
    if let Some(moved) = moved {
        println!("the previous database was moved to {}", moved.display());
    }
    println!(
        "restored the backup of {} taken at {} ms ({} media files); start Accord to serve it",
        manifest.server_name, manifest.created_ts, manifest.media_files
    );
    Ok(())
}

/// Checks every stored event of a stopped server's database.
pub(crate) fn verify(config: Option<&Path>) -> Result<(), String> {
    let config = Config::load(config).map_err(|err| err.to_string())?;
    let db = accord_server::open_database(&config).map_err(|err| err.to_string())?;
    let identity =
        accord_service::identity::load_or_generate(&db, config.server_name.clone()).map_err(|err| err.to_string())?;
    let report = accord_service::integrity::verify_database(&db, &identity).map_err(|err| err.to_string())?;
    println!(
        "{} events: {} verified, {} verified as redacted, {} signed by servers whose keys were never cached, {} failed",
        report.events, report.verified, report.redacted, report.unverifiable, report.failed
    );
    for problem in &report.problems {
        println!("PROBLEM: {problem}");
    }
    if report.failed > 0 {
        return Err(format!(
            "{} stored events failed verification (listed above)",
            report.failed
        ));
    }
    println!("database verified");
    Ok(())
}

/// `accord health`: exits 0 when the server at `url` answers `/health` (container health
/// checks; the image has no curl).
pub(crate) fn health(url: Option<String>) -> Result<(), String> {
    let url = url.unwrap_or_else(|| match std::env::var("ACCORD_CLIENT_API__BIND") {
        // A wildcard bind is reached on loopback.
        Ok(bind) => format!(
            "http://{}",
            bind.replace("0.0.0.0", "127.0.0.1").replace("[::]", "[::1]")
        ),
        Err(_) => "http://127.0.0.1:8008".to_owned(),
    });
    let _ = rustls::crypto::ring::default_provider().install_default();
    crate::cli::runtime()?.block_on(async {
        let address = format!("{}/health", url.trim_end_matches('/'));
        let response = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(5))
            .build()
            .map_err(|err| err.to_string())?
            .get(&address)
            .send()
            .await
            .map_err(|err| format!("{address}: {err}"))?;
        if response.status().is_success() {
            println!("healthy");
            Ok(())
        } else {
            Err(format!("{address} answered {}", response.status()))
        }
    })
}
