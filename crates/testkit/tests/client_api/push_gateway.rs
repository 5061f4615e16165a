//! A push gateway for the tests, on loopback: it records every notification posted to
//! `/_matrix/push/v1/notify` and answers as told (accept, fail with 500, or reject the
//! pushkeys it was given).

use std::sync::{Arc, Mutex};

use axum::{Json, Router, extract::State, http::StatusCode, routing::post};
use serde_json::{Value, json};

/// How the gateway answers.
#[derive(Debug, Clone, Default)]
pub enum Answer {
    /// 200 `{"rejected": []}`.
    #[default]
    Accept,
    /// 500, this many times, then accept.
    FailTimes(usize),
    /// 200 rejecting these pushkeys.
    Reject(Vec<String>),
}

#[derive(Default)]
struct Shared {
    received: Vec<Value>,
    answer: Answer,
}

/// The running gateway.
#[derive(Clone)]
pub struct TestGateway {
    shared: Arc<Mutex<Shared>>,
    /// `http://127.0.0.1:<port>/_matrix/push/v1/notify`.
    pub url: String,
}

async fn notify(State(shared): State<Arc<Mutex<Shared>>>, Json(body): Json<Value>) -> (StatusCode, Json<Value>) {
    let mut shared = shared.lock().expect("gateway state");
    shared.received.push(body);
    match shared.answer.clone() {
        Answer::Accept => (StatusCode::OK, Json(json!({ "rejected": [] }))),
        Answer::FailTimes(0) => {
            shared.answer = Answer::Accept;
            (StatusCode::OK, Json(json!({ "rejected": [] })))
        }
        Answer::FailTimes(n) => {
            shared.answer = Answer::FailTimes(n - 1);
            (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({})))
        }
        Answer::Reject(keys) => (StatusCode::OK, Json(json!({ "rejected": keys }))),
    }
}

impl TestGateway {
    /// Starts the gateway on a free loopback port.
    pub async fn start() -> Self {
        let shared = Arc::new(Mutex::new(Shared::default()));
        let app = Router::new()
            .route("/_matrix/push/v1/notify", post(notify))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            shared,
            url: format!("http://127.0.0.1:{port}/_matrix/push/v1/notify"),
        }
    }

    /// Sets how the gateway answers from now on.
    pub fn answer(&self, answer: Answer) {
        self.shared.lock().expect("gateway state").answer = answer;
    }

    /// Every request received so far.
    pub fn received(&self) -> Vec<Value> {
        self.shared.lock().expect("gateway state").received.clone()
    }

    /// Waits (up to 15 s) until `count` requests arrived; returns them.
    pub async fn wait_for(&self, count: usize) -> Vec<Value> {
        for _ in 0..150 {
            let received = self.received();
            if received.len() >= count {
                return received;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!(
            "the gateway got {} requests, not {count}: {:?}",
            self.received().len(),
            self.received()
        );
    }
}
