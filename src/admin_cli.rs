//! `accord admin ...`: the admin API of a running server from the command line. It talks
//! HTTP to the client listener with an admin's access token, so nothing needs stopping, and
//! every action lands in the audit log like one from any other admin tool.

use clap::{Args, Subcommand};
use serde_json::{Value, json};

/// Where the server is and who is asking.
#[derive(Debug, Args)]
pub(crate) struct AdminTarget {
    /// The client API's base URL.
    #[arg(long, env = "ACCORD_ADMIN_URL", default_value = "http://127.0.0.1:8008")]
    url: String,
    /// An admin's access token (better given through the environment than on the command line).
    #[arg(long, env = "ACCORD_ADMIN_TOKEN", hide_env_values = true)]
    token: String,
}

#[derive(Debug, Subcommand)]
pub(crate) enum AdminCommand {
    /// Accounts.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Rooms.
    Rooms {
        #[command(subcommand)]
        command: RoomsCommand,
    },
    /// The audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Any admin endpoint: `accord admin request GET /_synapse/admin/v1/server_version`.
    Request {
        /// HTTP method.
        method: String,
        /// Path (and query) on the server.
        path: String,
        /// JSON body.
        #[arg(long)]
        body: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum UsersCommand {
    /// List accounts.
    List {
        /// Part of the localpart or display name.
        #[arg(long)]
        name: Option<String>,
        /// Include deactivated accounts.
        #[arg(long)]
        deactivated: bool,
        /// Accounts at most.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Show one account (a localpart or a full user id).
    Show { user: String },
    /// Create an account.
    Create {
        /// Localpart or full user id.
        user: String,
        /// Password.
        #[arg(long)]
        password: Option<String>,
        /// Make it a server admin.
        #[arg(long)]
        admin: bool,
        /// Display name.
        #[arg(long)]
        displayname: Option<String>,
    },
    /// Deactivate an account.
    Deactivate {
        user: String,
        /// Erase the user's data too (GDPR).
        #[arg(long)]
        erase: bool,
    },
    /// Set a new password; every device is logged out unless --keep-devices.
    ResetPassword {
        user: String,
        #[arg(long)]
        password: String,
        #[arg(long)]
        keep_devices: bool,
    },
    /// Give or take the admin flag.
    SetAdmin {
        user: String,
        #[arg(action = clap::ArgAction::Set)]
        admin: bool,
    },
    /// List the account's devices.
    Devices { user: String },
    /// Export everything Accord holds about the user (GDPR) as a .tar.gz archive.
    Export {
        user: String,
        /// Where to write the archive.
        #[arg(long)]
        out: std::path::PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum RoomsCommand {
    /// List rooms.
    List {
        /// Part of the name or alias, or a room id.
        #[arg(long)]
        search: Option<String>,
    },
    /// Show one room.
    Show { room: String },
    /// Block a room: local users can't join or be invited.
    Block { room: String },
    /// Lift a block.
    Unblock { room: String },
    /// Shut a room down: every local member leaves, local aliases go; history stays.
    Shutdown {
        room: String,
        /// Block it too.
        #[arg(long)]
        block: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// The newest records.
    List {
        #[arg(long)]
        kind: Option<String>,
        #[arg(long)]
        actor: Option<String>,
        #[arg(long)]
        target: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Every record as JSON lines, oldest first, to standard output.
    Export,
    /// Check the hash chain on the running server.
    Verify,
}

/// One request to the server; the error is one line naming the status and errcode.
struct AdminClient {
    http: reqwest::Client,
    url: String,
    token: String,
}

impl AdminClient {
    async fn send(&self, method: &str, path: &str, body: Option<Value>) -> Result<(u16, String), String> {
        let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes())
            .map_err(|_| format!("{method} is not an HTTP method"))?;
        let url = format!("{}{path}", self.url.trim_end_matches('/'));
        let mut request = self.http.request(method, &url).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .map_err(|err| format!("cannot reach Accord at {}: {err} (is it running? set --url)", self.url))?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|err| format!("reading the answer: {err}"))?;
        if status >= 400 {
            let error: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            return Err(format!(
                "{status} {}: {}",
                error["errcode"].as_str().unwrap_or("(no errcode)"),
                error["error"].as_str().unwrap_or(text.trim())
            ));
        }
        Ok((status, text))
    }

    /// A GET answered with bytes (an archive).
    async fn bytes(&self, path: &str) -> Result<Vec<u8>, String> {
        let url = format!("{}{path}", self.url.trim_end_matches('/'));
        let response = self
            .http
            .get(&url)
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|err| format!("cannot reach Accord at {}: {err} (is it running? set --url)", self.url))?;
        let status = response.status().as_u16();
        let bytes = response
            .bytes()
            .await
            .map_err(|err| format!("reading the answer: {err}"))?;
        if status >= 400 {
            let error: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            return Err(format!(
                "{status} {}: {}",
                error["errcode"].as_str().unwrap_or("(no errcode)"),
                error["error"].as_str().unwrap_or_default()
            ));
        }
        Ok(bytes.to_vec())
    }

    async fn json(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let (_, text) = self.send(method, path, body).await?;
        serde_json::from_str(&text).map_err(|err| format!("the answer is not JSON: {err}"))
    }

    /// A full user id for `user`: as given, or the localpart on the admin's own server.
    async fn user_id(&self, user: &str) -> Result<String, String> {
        if user.starts_with('@') {
            return Ok(user.to_owned());
        }
        let whoami = self.json("GET", "/_matrix/client/v3/account/whoami", None).await?;
        let me = whoami["user_id"].as_str().unwrap_or_default();
        let server = me.split_once(':').map(|(_, server)| server).unwrap_or_default();
        Ok(format!("@{user}:{server}"))
    }
}

fn encode(part: &str) -> String {
    url::form_urlencoded::byte_serialize(part.as_bytes()).collect()
}

fn query(pairs: &[(&str, Option<String>)]) -> String {
    let mut serializer = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in pairs {
        if let Some(value) = value {
            serializer.append_pair(key, value);
        }
    }
    serializer.finish()
}

fn print(value: &Value) -> Result<(), String> {
    let text = serde_json::to_string_pretty(value).map_err(|err| err.to_string())?;
    println!("{text}");
    Ok(())
}

/// Runs one admin command against the server.
pub(crate) fn run(target: AdminTarget, command: AdminCommand) -> Result<(), String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .build()
        .map_err(|err| format!("cannot build the HTTP client: {err}"))?;
    let client = AdminClient {
        http,
        url: target.url,
        token: target.token,
    };
    crate::cli::runtime()?.block_on(async move {
        match command {
            AdminCommand::Users { command } => users(&client, command).await,
            AdminCommand::Rooms { command } => rooms(&client, command).await,
            AdminCommand::Audit { command } => audit(&client, command).await,
            AdminCommand::Request { method, path, body } => {
                let body = body
                    .map(|body| serde_json::from_str(&body).map_err(|err| format!("--body is not JSON: {err}")))
                    .transpose()?;
                let (_, text) = client.send(&method, &path, body).await?;
                println!("{text}");
                Ok(())
            }
        }
    })
}

async fn users(client: &AdminClient, command: UsersCommand) -> Result<(), String> {
    let answer = match command {
        UsersCommand::List {
            name,
            deactivated,
            limit,
        } => {
            let query = query(&[
                ("name", name),
                ("deactivated", Some(deactivated.to_string())),
                ("limit", Some(limit.to_string())),
            ]);
            client
                .json("GET", &format!("/_synapse/admin/v2/users?{query}"), None)
                .await?
        }
        UsersCommand::Show { user } => {
            let user_id = client.user_id(&user).await?;
            client
                .json("GET", &format!("/_synapse/admin/v2/users/{}", encode(&user_id)), None)
                .await?
        }
        UsersCommand::Create {
            user,
            password,
            admin,
            displayname,
        } => {
            let user_id = client.user_id(&user).await?;
            let mut body = json!({ "admin": admin });
            if let Some(password) = password {
                body["password"] = json!(password);
            }
            if let Some(displayname) = displayname {
                body["displayname"] = json!(displayname);
            }
            client
                .json(
                    "PUT",
                    &format!("/_synapse/admin/v2/users/{}", encode(&user_id)),
                    Some(body),
                )
                .await?
        }
        UsersCommand::Deactivate { user, erase } => {
            let user_id = client.user_id(&user).await?;
            let path = format!("/_synapse/admin/v1/deactivate/{}", encode(&user_id));
            client.json("POST", &path, Some(json!({ "erase": erase }))).await?
        }
        UsersCommand::ResetPassword {
            user,
            password,
            keep_devices,
        } => {
            let user_id = client.user_id(&user).await?;
            let path = format!("/_synapse/admin/v1/reset_password/{}", encode(&user_id));
            let body = json!({ "new_password": password, "logout_devices": !keep_devices });
            client.json("POST", &path, Some(body)).await?
        }
        UsersCommand::SetAdmin { user, admin } => {
            let user_id = client.user_id(&user).await?;
            let path = format!("/_synapse/admin/v1/users/{}/admin", encode(&user_id));
            client.json("PUT", &path, Some(json!({ "admin": admin }))).await?
        }
        UsersCommand::Export { user, out } => {
            let user_id = client.user_id(&user).await?;
            let archive = client
                .bytes(&format!("/_accord/admin/v1/users/{}/export", encode(&user_id)))
                .await?;
            std::fs::write(&out, &archive).map_err(|err| format!("cannot write {}: {err}", out.display()))?;
            json!({ "user_id": user_id, "archive": out, "bytes": archive.len() })
        }
        UsersCommand::Devices { user } => {
            let user_id = client.user_id(&user).await?;
            let path = format!("/_synapse/admin/v2/users/{}/devices", encode(&user_id));
            client.json("GET", &path, None).await?
        }
    };
    print(&answer)
}

async fn rooms(client: &AdminClient, command: RoomsCommand) -> Result<(), String> {
    let answer = match command {
        RoomsCommand::List { search } => {
            let query = query(&[("search_term", search)]);
            client
                .json("GET", &format!("/_synapse/admin/v1/rooms?{query}"), None)
                .await?
        }
        RoomsCommand::Show { room } => {
            client
                .json("GET", &format!("/_synapse/admin/v1/rooms/{}", encode(&room)), None)
                .await?
        }
        RoomsCommand::Block { room } => set_block(client, &room, true).await?,
        RoomsCommand::Unblock { room } => set_block(client, &room, false).await?,
        RoomsCommand::Shutdown { room, block } => {
            let body = json!({ "block": block, "purge": false });
            client
                .json(
                    "DELETE",
                    &format!("/_synapse/admin/v1/rooms/{}", encode(&room)),
                    Some(body),
                )
                .await?
        }
    };
    print(&answer)
}

async fn set_block(client: &AdminClient, room: &str, block: bool) -> Result<Value, String> {
    let path = format!("/_synapse/admin/v1/rooms/{}/block", encode(room));
    client.json("PUT", &path, Some(json!({ "block": block }))).await
}

async fn audit(client: &AdminClient, command: AuditCommand) -> Result<(), String> {
    match command {
        AuditCommand::List {
            kind,
            actor,
            target,
            limit,
        } => {
            let query = query(&[
                ("kind", kind),
                ("actor", actor),
                ("target", target),
                ("limit", Some(limit.to_string())),
            ]);
            let answer = client
                .json("GET", &format!("/_accord/admin/v1/audit?{query}"), None)
                .await?;
            print(&answer)
        }
        AuditCommand::Export => {
            let (_, text) = client.send("GET", "/_accord/admin/v1/audit/export", None).await?;
            print!("{text}");
            Ok(())
        }
        AuditCommand::Verify => {
            let answer = client.json("GET", "/_accord/admin/v1/audit/verify", None).await?;
            print(&answer)?;
            if answer["intact"] == json!(true) {
                Ok(())
            } else {
                Err("the audit log has been tampered with (see problems above)".to_owned())
            }
        }
    }
}
