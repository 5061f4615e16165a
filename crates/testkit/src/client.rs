//! Raw Matrix requests against a `TestServer`, and helpers that create users.

use http::Method;
use serde_json::{Value, json};

use crate::{SHARED_SECRET, TestServer};

/// A response: status and JSON body (`Null` when the body was not JSON).
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Parsed body.
    pub body: Value,
    /// Response headers.
    pub headers: http::HeaderMap,
}

/// A response as bytes (a downloaded file).
#[derive(Debug, Clone)]
pub struct RawReply {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: http::HeaderMap,
    /// The body.
    pub bytes: Vec<u8>,
}

impl RawReply {
    /// A header's value as text (empty when absent).
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
    }

    /// The body as JSON (`Null` when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or(Value::Null)
    }
}

impl Reply {
    /// The `errcode`, if the body has one.
    pub fn errcode(&self) -> Option<&str> {
        self.body.get("errcode").and_then(Value::as_str)
    }

    /// Panics unless the status is 200; returns the body.
    #[track_caller]
    pub fn ok(self) -> Value {
        assert_eq!(self.status, 200, "expected 200, got {}: {}", self.status, self.body);
        self.body
    }

    /// Panics unless status and errcode are as given.
    #[track_caller]
    pub fn assert_error(&self, status: u16, errcode: &str) {
        assert_eq!(
            (self.status, self.errcode()),
            (status, Some(errcode)),
            "body: {}",
            self.body
        );
        assert!(
            self.body.get("error").and_then(Value::as_str).is_some(),
            "no `error` message: {}",
            self.body
        );
    }
}

/// A logged-in user.
#[derive(Debug, Clone)]
pub struct TestUser {
    /// Full user id.
    pub user_id: String,
    /// Access token.
    pub token: String,
    /// Device id.
    pub device_id: String,
    /// Password.
    pub password: String,
}

impl TestServer {
    /// Sends a request with an optional bearer token and JSON body.
    pub async fn request(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Reply {
        self.request_bytes(method, path, token, body.map(|b| b.to_string().into_bytes()))
            .await
    }

    /// Sends a request with raw body bytes.
    pub async fn request_bytes(&self, method: Method, path: &str, token: Option<&str>, body: Option<Vec<u8>>) -> Reply {
        let mut request = self.http.request(method, format!("{}{path}", self.base_url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body);
        }
        let response = request.send().await.expect("request reaches the server");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("response body");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply { status, body, headers }
    }

    /// Sends raw bytes with their own `Content-Type` (a media upload) and returns the raw
    /// answer, body bytes included.
    pub async fn request_raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        content_type: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> RawReply {
        let mut request = self.http.request(method, format!("{}{path}", self.base_url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = request.send().await.expect("request reaches the server");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("response body").to_vec();
        RawReply { status, headers, bytes }
    }

    /// `GET path`.
    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.request(Method::GET, path, token, None).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.request(Method::POST, path, token, Some(body)).await
    }

    /// `PUT path` with a JSON body.
    pub async fn put(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.request(Method::PUT, path, token, Some(body)).await
    }

    /// `DELETE path` with an optional JSON body.
    pub async fn delete(&self, path: &str, token: Option<&str>, body: Option<Value>) -> Reply {
        self.request(Method::DELETE, path, token, body).await
    }

    /// Registers `name` with `password` through open registration (UIA `m.login.dummy`).
    pub async fn register(&self, name: &str, password: &str) -> TestUser {
        let body = json!({
            "username": name,
            "password": password,
            "auth": { "type": "m.login.dummy" },
        });
        let reply = self.post("/_matrix/client/v3/register", None, body).await.ok();
        user_from(&reply, password)
    }

    /// Creates `name` through shared-secret registration (works whatever the registration mode).
    pub async fn create_user(&self, name: &str, password: &str, admin: bool) -> TestUser {
        let nonce = self.get("/_synapse/admin/v1/register", None).await.ok()["nonce"]
            .as_str()
            .map(str::to_owned);
        let nonce = nonce.expect("nonce");
        let mac = shared_secret_mac(SHARED_SECRET, &nonce, name, password, admin);
        let body = json!({ "nonce": nonce, "username": name, "password": password, "admin": admin, "mac": mac });
        let reply = self.post("/_synapse/admin/v1/register", None, body).await.ok();
        user_from(&reply, password)
    }

    /// Logs in with a password; returns the raw reply.
    pub async fn login(&self, user: &str, password: &str) -> Reply {
        let body = json!({
            "type": "m.login.password",
            "identifier": { "type": "m.id.user", "user": user },
            "password": password,
        });
        self.post("/_matrix/client/v3/login", None, body).await
    }
}

fn user_from(reply: &Value, password: &str) -> TestUser {
    let field = |name: &str| {
        reply[name]
            .as_str()
            .unwrap_or_else(|| panic!("no {name} in {reply}"))
            .to_owned()
    };
    TestUser {
        user_id: field("user_id"),
        token: field("access_token"),
        device_id: field("device_id"),
        password: password.to_owned(),
    }
}

/// The HMAC-SHA1 Synapse's shared-secret registration expects, in hex.
pub fn shared_secret_mac(secret: &str, nonce: &str, user: &str, password: &str, admin: bool) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).expect("any key length works");
    for (i, part) in [nonce, user, password].iter().enumerate() {
        if i > 0 {
            mac.update(b"\0");
        }
        mac.update(part.as_bytes());
    }
    mac.update(b"\0");
    mac.update(if admin { b"admin" } else { b"notadmin" });
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}
