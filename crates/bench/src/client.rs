//! Minimal Matrix client calls the benchmark needs.

use std::time::Instant;

use serde_json::{Value, json};

use crate::stats::{Latencies, SendRun};

/// A registered user.
#[derive(Clone, Debug)]
pub struct User {
    token: String,
}

/// HTTP client bound to one server.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    /// A client for `base`.
    pub fn new(http: reqwest::Client, base: String) -> Self {
        Self { http, base }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|e| e.to_string())?;
        let status = response.status();
        let body: Value = response.json().await.map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!("{path}: {status} {body}"));
        }
        Ok(body)
    }

    /// Registers with the dummy UIA stage.
    pub async fn register(&self, name: &str) -> Result<User, String> {
        let body = json!({ "username": name, "password": "bench-password", "auth": { "type": "m.login.dummy" } });
        let reply = self
            .call(reqwest::Method::POST, "/_matrix/client/v3/register", None, Some(body))
            .await?;
        Ok(User {
            token: reply["access_token"].as_str().ok_or("no token")?.to_owned(),
        })
    }

    /// Creates a room.
    pub async fn create_room(&self, user: &User, body: Value) -> Result<String, String> {
        let reply = self
            .call(
                reqwest::Method::POST,
                "/_matrix/client/v3/createRoom",
                Some(&user.token),
                Some(body),
            )
            .await?;
        Ok(reply["room_id"].as_str().ok_or("no room id")?.to_owned())
    }

    /// Joins a room.
    pub async fn join(&self, user: &User, room: &str) -> Result<(), String> {
        self.call(
            reqwest::Method::POST,
            &format!("/_matrix/client/v3/rooms/{room}/join"),
            Some(&user.token),
            Some(json!({})),
        )
        .await
        .map(drop)
    }

    /// Sends one text message.
    pub async fn send(&self, user: &User, room: &str, body: &str) -> Result<(), String> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static TXN: AtomicU64 = AtomicU64::new(0);
        let txn = TXN.fetch_add(1, Ordering::Relaxed);
        let path = format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/b{txn}");
        self.call(
            reqwest::Method::PUT,
            &path,
            Some(&user.token),
            Some(json!({ "msgtype": "m.text", "body": body })),
        )
        .await
        .map(drop)
    }

    /// Sends `total` messages split across `users`, each user sending sequentially.
    pub async fn send_many(&self, users: &[User], room: &str, total: usize) -> Result<SendRun, String> {
        let per_user = total / users.len().max(1);
        let started = Instant::now();
        let tasks: Vec<_> = users
            .iter()
            .map(|user| {
                let client = self.clone();
                let user = user.clone();
                let room = room.to_owned();
                tokio::spawn(async move {
                    let mut latencies = Latencies::default();
                    for i in 0..per_user {
                        let sent = Instant::now();
                        client.send(&user, &room, &format!("bench {i}")).await?;
                        latencies.push(sent.elapsed());
                    }
                    Ok::<_, String>(latencies)
                })
            })
            .collect();
        let mut latencies = Latencies::default();
        for task in tasks {
            latencies.extend(task.await.map_err(|e| e.to_string())??);
        }
        Ok(SendRun {
            count: per_user * users.len(),
            elapsed: started.elapsed(),
            latencies,
        })
    }

    /// `/sync`; returns `next_batch`.
    pub async fn sync(&self, user: &User, since: Option<&str>, timeout_ms: u64) -> Result<String, String> {
        let mut path = format!("/_matrix/client/v3/sync?timeout={timeout_ms}");
        if let Some(since) = since {
            path.push_str(&format!("&since={since}"));
        }
        let reply = self.call(reqwest::Method::GET, &path, Some(&user.token), None).await?;
        Ok(reply["next_batch"].as_str().ok_or("no next_batch")?.to_owned())
    }
}
