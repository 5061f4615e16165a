//! Subcommands: `serve`, `check-config`, `user create`, `keys rotate`, `search rebuild`,
//! `audit verify` and `verify` (on a stopped server's database), `backup`, `restore`, and
//! `admin ...` (against a running server).

use std::path::{Path, PathBuf};

use accord_core::Config;
use accord_server::RunningServer;
use accord_service::{Services, accounts::NewAccount};
use clap::{Parser, Subcommand};

/// Accord: a Matrix homeserver for organizations that federate with named partners.
#[derive(Debug, Parser)]
#[command(name = "accord", version, about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (embedded defaults when no --config is given).
    Serve {
        /// TOML configuration file (see conf/accord.toml).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Validate a configuration file and exit.
    CheckConfig {
        /// TOML configuration file.
        file: PathBuf,
    },
    /// Manage accounts on the database of a stopped server.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage the server's signing key on the database of a stopped server.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Manage the message search index of a stopped server.
    Search {
        #[command(subcommand)]
        command: SearchCommand,
    },
    /// Check the audit log of a stopped server's database (on a running one: `accord admin
    /// audit verify`).
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Back up a running server (admin token) or a stopped one (--config).
    Backup(crate::maintenance_cli::BackupArgs),
    /// Put a backup back, for a stopped server.
    Restore {
        /// The backup directory.
        #[arg(long)]
        from: PathBuf,
        /// TOML configuration file naming the database to restore into.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Move an existing database aside (to `<path>.replaced-<ms>`) instead of refusing.
        #[arg(long)]
        replace: bool,
    },
    /// Check every stored event's hashes and signatures (a stopped server's database).
    Verify {
        /// TOML configuration file naming the database.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Exit 0 if the server answers /health (for container health checks).
    Health {
        /// The client API's base URL; by default the address in ACCORD_CLIENT_API__BIND (as
        /// a container sets it), else http://127.0.0.1:8008.
        #[arg(long)]
        url: Option<String>,
    },
    /// Administer a running server through its admin API (needs an admin's access token).
    Admin {
        #[command(flatten)]
        target: crate::admin_cli::AdminTarget,
        #[command(subcommand)]
        command: crate::admin_cli::AdminCommand,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Check every record's hash and link, and that none is missing; exits 1 naming each
    /// problem, and prints the chain's head to keep for later comparison.
    Verify {
        /// TOML configuration file naming the database.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum SearchCommand {
    /// Index every room's timeline afresh (after restoring a backup, or if searches miss
    /// messages they should find).
    Rebuild {
        /// TOML configuration file naming the database.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Retire the signing key and generate a new one. Other servers keep verifying events
    /// signed with the old key: it stays published in `old_verify_keys`.
    Rotate {
        /// TOML configuration file naming the database.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create an account.
    Create {
        /// Localpart of the new user (`alice` for `@alice:<server_name>`).
        name: String,
        /// Password; without it the account can't log in with a password.
        #[arg(long)]
        password: Option<String>,
        /// Make the account a server administrator.
        #[arg(long)]
        admin: bool,
        /// TOML configuration file naming the database.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

/// Runs the chosen subcommand; the error is one line for the operator.
pub(crate) fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Serve { config } => serve(config.as_deref()),
        Command::CheckConfig { file } => {
            let config = Config::load(Some(&file)).map_err(|err| err.to_string())?;
            println!(
                "{}: configuration is valid (server_name {})",
                file.display(),
                config.server_name
            );
            Ok(())
        }
        Command::User {
            command:
                UserCommand::Create {
                    name,
                    password,
                    admin,
                    config,
                },
        } => create_user(config.as_deref(), name, password, admin),
        Command::Keys {
            command: KeysCommand::Rotate { config },
        } => rotate_key(config.as_deref()),
        Command::Search {
            command: SearchCommand::Rebuild { config },
        } => rebuild_search(config.as_deref()),
        Command::Audit {
            command: AuditCommand::Verify { config },
        } => verify_audit(config.as_deref()),
        Command::Admin { target, command } => crate::admin_cli::run(target, command),
        Command::Backup(args) => crate::maintenance_cli::backup(args),
        Command::Restore { from, config, replace } => {
            crate::maintenance_cli::restore(&from, config.as_deref(), replace)
        }
        Command::Verify { config } => crate::maintenance_cli::verify(config.as_deref()),
        Command::Health { url } => crate::maintenance_cli::health(url),
    }
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|err| format!("cannot start the async runtime: {err}"))
}

fn serve(path: Option<&Path>) -> Result<(), String> {
    let config = Config::load(path).map_err(|err| err.to_string())?;
    let telemetry = crate::logging::init(&config.logging, &config.telemetry)?;
    let served = runtime()?.block_on(async {
        use tokio::signal::unix::{SignalKind, signal};
        let server = RunningServer::start(config).await.map_err(|err| err.to_string())?;
        let mut terminate = signal(SignalKind::terminate()).map_err(|err| format!("cannot watch SIGTERM: {err}"))?;
        let mut hangup = signal(SignalKind::hangup()).map_err(|err| format!("cannot watch SIGHUP: {err}"))?;
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                _ = terminate.recv() => break,
                _ = hangup.recv() => match Config::load(path) {
                    // A bad edit keeps the running configuration.
                    Err(err) => server.reload_refused(&err.to_string()),
                    Ok(new) => server.reload(&new),
                },
            }
        }
        tracing::info!("shutting down");
        server.shutdown().await;
        Ok(())
    });
    telemetry.shutdown();
    served
}

fn create_user(config: Option<&Path>, name: String, password: Option<String>, admin: bool) -> Result<(), String> {
    let config = Config::load(config).map_err(|err| err.to_string())?;
    let db = accord_server::open_database(&config).map_err(|err| err.to_string())?;
    let services = Services::new(std::sync::Arc::new(config), db).map_err(|err| err.to_string())?;
    runtime()?.block_on(async {
        let new = NewAccount {
            username: Some(name),
            password,
            admin,
            inhibit_login: true,
            ..NewAccount::default()
        };
        let registered = services
            .accounts
            .create(new, None)
            .await
            .map_err(|err| err.to_string())?;
        println!("created {}{}", registered.user_id, if admin { " (admin)" } else { "" });
        Ok(())
    })
}

fn rotate_key(config: Option<&Path>) -> Result<(), String> {
    let config = Config::load(config).map_err(|err| err.to_string())?;
    let db = accord_server::open_database(&config).map_err(|err| err.to_string())?;
    let key_id = accord_service::identity::rotate(&db).map_err(|err| err.to_string())?;
    println!("new signing key {key_id}; the old one stays published as an old verify key");
    Ok(())
}

fn rebuild_search(config: Option<&Path>) -> Result<(), String> {
    let config = Config::load(config).map_err(|err| err.to_string())?;
    let db = accord_server::open_database(&config).map_err(|err| err.to_string())?;
    let services = Services::new(std::sync::Arc::new(config), db).map_err(|err| err.to_string())?;
    let indexed = services.search.rebuild().map_err(|err| err.to_string())?;
    println!("search index rebuilt: {indexed} events indexed");
    Ok(())
}

fn verify_audit(config: Option<&Path>) -> Result<(), String> {
    let config = Config::load(config).map_err(|err| err.to_string())?;
    let db = accord_server::open_database(&config).map_err(|err| err.to_string())?;
    let checked = db.verify_audit_log().map_err(|err| err.to_string())?;
    if let Some((seq, hash)) = &checked.head {
        println!("audit log: {} records, head {seq} {hash}", checked.records);
    } else {
        println!("audit log: empty");
    }
    if checked.problems.is_empty() {
        println!("audit log intact");
        return Ok(());
    }
    for problem in &checked.problems {
        println!("PROBLEM: {problem}");
    }
    Err(format!(
        "the audit log has been tampered with: {} problem(s) listed above",
        checked.problems.len()
    ))
}
