//! Client API calls shared by the bench binaries that measure Synapse beside Accord: one
//! authenticated call, room creation, and a fill that keeps a number of requests in flight.

use serde_json::Value;

/// One authenticated call; its JSON answer.
pub async fn call(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Result<Value, String> {
    let mut request = http.request(method, format!("{url}{path}")).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.map_err(|e| format!("{path}: {e}"))?;
    let status = response.status();
    let answer: Value = response.json().await.map_err(|e| format!("{path}: {e}"))?;
    if !status.is_success() {
        return Err(format!("{path}: {status} {answer}"));
    }
    Ok(answer)
}

pub async fn create_room(http: &reqwest::Client, url: &str, token: &str, body: Value) -> Result<String, String> {
    let answer = call(
        http,
        url,
        token,
        reqwest::Method::POST,
        "/_matrix/client/v3/createRoom",
        Some(body),
    )
    .await?;
    answer["room_id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("createRoom: {answer}"))
}

/// Runs `count` requests built by `make`, `concurrency` at a time.
pub async fn fill<F>(count: usize, concurrency: usize, make: F) -> Result<(), String>
where
    F: Fn(usize) -> tokio::task::JoinHandle<Result<(), String>>,
{
    let mut running = std::collections::VecDeque::new();
    for i in 0..count {
        if running.len() == concurrency
            && let Some(task) = running.pop_front()
        {
            let task: tokio::task::JoinHandle<Result<(), String>> = task;
            task.await.map_err(|e| e.to_string())??;
        }
        running.push_back(make(i));
    }
    for task in running {
        task.await.map_err(|e| e.to_string())??;
    }
    Ok(())
}
