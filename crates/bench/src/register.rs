//! Registering a bench user on any server through its client API (Accord answers the dummy
//! stage at once; Synapse first hands out a UIA session). Shared by the bench binaries that
//! target Synapse too.

use serde_json::{Value, json};

/// Registers a user on a target through its client API; returns (user id, token).
pub async fn register(http: &reqwest::Client, url: &str, name: &str) -> Result<(String, String), String> {
    let mut body = json!({ "username": name, "password": "bench-password-1", "auth": { "type": "m.login.dummy" } });
    for _ in 0..2 {
        let reply: Value = http
            .post(format!("{url}/_matrix/client/v3/register"))
            .json(&body)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        if let (Some(user), Some(token)) = (reply["user_id"].as_str(), reply["access_token"].as_str()) {
            return Ok((user.to_owned(), token.to_owned()));
        }
        match reply["session"].as_str() {
            Some(session) => body["auth"]["session"] = json!(session),
            None => return Err(format!("register {name} at {url}: {reply}")),
        }
    }
    Err(format!("register {name} at {url}: no token"))
}
