//! Outbound federation requests: ruma builds the request, `X-Matrix` signs it, TLS is verified
//! against the system roots plus the configured CA file, and ruma parses the answer.

use std::{collections::HashMap, sync::Arc, time::Duration};

use accord_core::ServerIdentity;
use parking_lot::Mutex;
use ruma::{
    ServerName,
    api::{
        IncomingResponseExt, OutgoingRequest, OutgoingRequestExt,
        auth_scheme::{AuthScheme, NoAuthentication},
        error::FromHttpResponseError,
        federation::authentication::{ServerSignatures, XMatrixSigningInput},
        path_builder::PathBuilder,
    },
    signatures::Ed25519KeyPair,
};

use crate::{Destination, Error, Resolver, Result};

/// Time allowed for one federation request, answer included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Time allowed to open a connection (TCP and TLS): a server that doesn't accept within this
/// is down, and waiting the whole request timeout for it would only delay the retry.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest response body read.
const MAX_RESPONSE_BYTES: usize = 100 * 1024 * 1024;

/// How an endpoint's authentication input is made for outbound requests.
pub trait OutboundAuth: AuthScheme {
    /// The input for a request from `origin` to `destination`.
    fn input<'a>(origin: &ServerName, destination: &ServerName, key: &'a Ed25519KeyPair) -> Self::Input<'a>;
}

impl OutboundAuth for ServerSignatures {
    fn input<'a>(origin: &ServerName, destination: &ServerName, key: &'a Ed25519KeyPair) -> XMatrixSigningInput<'a> {
        XMatrixSigningInput::new(origin.to_owned(), destination.to_owned(), key)
    }
}

impl OutboundAuth for NoAuthentication {
    fn input(_: &ServerName, _: &ServerName, _: &Ed25519KeyPair) {}
}

/// Signed requests to other servers.
#[derive(Clone)]
pub struct FederationClient {
    identity: ServerIdentity,
    resolver: Resolver,
    tls: Arc<rustls::ClientConfig>,
    http: reqwest::Client,
    /// Clients pinned to SRV targets, by `tls_name:port`.
    pinned: Arc<Mutex<HashMap<String, reqwest::Client>>>,
    policy: Arc<parking_lot::RwLock<crate::ServerPolicy>>,
}

impl std::fmt::Debug for FederationClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FederationClient")
            .field("origin", &self.identity.server_name)
            .finish_non_exhaustive()
    }
}

fn http_client(
    tls: &Arc<rustls::ClientConfig>,
    pin: Option<(&str, &[std::net::SocketAddr])>,
) -> Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .tls_backend_preconfigured(rustls::ClientConfig::clone(tls))
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none());
    if let Some((name, addrs)) = pin {
        builder = builder.resolve_to_addrs(name, addrs);
    }
    builder.build().map_err(|err| Error::Tls(err.to_string()))
}

impl FederationClient {
    pub(crate) fn new(
        identity: ServerIdentity,
        resolver: Resolver,
        tls: Arc<rustls::ClientConfig>,
        policy: Arc<parking_lot::RwLock<crate::ServerPolicy>>,
    ) -> Result<Self> {
        let http = http_client(&tls, None)?;
        Ok(Self {
            identity,
            resolver,
            tls,
            http,
            pinned: Arc::default(),
            policy,
        })
    }

    /// The resolver, for callers that need a destination's address.
    pub fn resolver(&self) -> &Resolver {
        &self.resolver
    }

    /// Sends `request` to `destination`, signed as this server where the endpoint asks for it.
    pub async fn send<R>(&self, destination: &ServerName, request: R) -> Result<R::IncomingResponse>
    where
        R: OutgoingRequest,
        R::Authentication: OutboundAuth,
        for<'a> <R::PathBuilder as PathBuilder>::Input<'a>: Default,
    {
        let server = destination.to_string();
        let (target, parts, body) = self.prepare(destination, request).await?;
        let (status, headers, bytes) = self.exchange(destination, &target, parts, body).await?;
        let mut builder = http::Response::builder().status(status);
        for (name, value) in &headers {
            builder = builder.header(name, value);
        }
        let http_response = builder.body(bytes.as_ref()).map_err(|err| Error::BadResponse {
            server: server.clone(),
            reason: err.to_string(),
        })?;
        R::IncomingResponse::try_from_http_response(http_response).map_err(|err| match err {
            FromHttpResponseError::Server(_) => Error::Remote {
                server,
                status: status.as_u16(),
                body: String::from_utf8_lossy(&bytes).chars().take(500).collect(),
            },
            other => Error::BadResponse {
                server,
                reason: other.to_string(),
            },
        })
    }

    /// Like [`FederationClient::send`], but the answer's body is handed over as it arrives
    /// and not parsed: for media files, which are never held whole in memory (the caller
    /// bounds what it reads).
    pub async fn send_streamed<R>(&self, destination: &ServerName, request: R) -> Result<StreamedResponse>
    where
        R: OutgoingRequest,
        R::Authentication: OutboundAuth,
        for<'a> <R::PathBuilder as PathBuilder>::Input<'a>: Default,
    {
        let (target, parts, body) = self.prepare(destination, request).await?;
        let response = self.start(destination, &target, parts, body).await?;
        Ok(StreamedResponse::new(response))
    }

    /// The allow-list checked, the destination resolved and `request` built (and signed).
    async fn prepare<R>(
        &self,
        destination: &ServerName,
        request: R,
    ) -> Result<(Destination, http::request::Parts, Vec<u8>)>
    where
        R: OutgoingRequest,
        R::Authentication: OutboundAuth,
        for<'a> <R::PathBuilder as PathBuilder>::Input<'a>: Default,
    {
        self.check_allowed(destination)?;
        let target = self.resolver.resolve(destination).await?;
        let input =
            <R::Authentication as OutboundAuth>::input(&self.identity.server_name, destination, &self.identity.key);
        let http_request = request
            .try_into_http_request::<Vec<u8>>(&target.base_url, input, Default::default())
            .map_err(|err| Error::BadResponse {
                server: destination.to_string(),
                reason: format!("cannot build request: {err}"),
            })?;
        let (parts, body) = http_request.into_parts();
        Ok((target, parts, body))
    }

    /// An unsigned `GET` of `path_and_query` on `destination` (the legacy media download,
    /// which older servers serve without authentication), under the same allow-list, resolver
    /// and TLS as every federation request; the answer whatever its status, its body streamed.
    pub async fn get_unsigned_streamed(
        &self,
        destination: &ServerName,
        path_and_query: &str,
    ) -> Result<StreamedResponse> {
        self.check_allowed(destination)?;
        let target = self.resolver.resolve(destination).await?;
        let request = http::Request::get(format!("{}{path_and_query}", target.base_url))
            .body(Vec::new())
            .map_err(|err| Error::BadResponse {
                server: destination.to_string(),
                reason: format!("cannot build request: {err}"),
            })?;
        let (parts, body) = request.into_parts();
        let response = self.start(destination, &target, parts, body).await?;
        Ok(StreamedResponse::new(response))
    }

    /// Closed federation: a server off the allow-list is refused before any lookup or
    /// connection.
    fn check_allowed(&self, destination: &ServerName) -> Result<()> {
        if self.policy.read().allows(destination) {
            return Ok(());
        }
        tracing::warn!(%destination, "refused outbound federation request: server not allowed");
        Err(Error::Forbidden(format!(
            "federation with {destination} is not allowed (federation.allowed_servers / denied_servers)"
        )))
    }

    /// Sends one built request to its resolved target; the answer's head has arrived.
    async fn start(
        &self,
        destination: &ServerName,
        target: &Destination,
        parts: http::request::Parts,
        body: Vec<u8>,
    ) -> Result<reqwest::Response> {
        let client = self.client_for(target).await?;
        let mut outbound = client
            .request(parts.method, parts.uri.to_string())
            .headers(parts.headers)
            .body(body);
        outbound = outbound.header(http::header::HOST, target.host_header.clone());
        outbound.send().await.map_err(|err| Error::Transport {
            server: destination.to_string(),
            reason: error_chain(&err),
        })
    }

    /// Sends one built request to its resolved target and reads the answer (bounded by
    /// [`MAX_RESPONSE_BYTES`]).
    async fn exchange(
        &self,
        destination: &ServerName,
        target: &Destination,
        parts: http::request::Parts,
        body: Vec<u8>,
    ) -> Result<(http::StatusCode, http::HeaderMap, bytes::Bytes)> {
        let server = destination.to_string();
        let response = self.start(destination, target, parts, body).await?;
        let status = response.status();
        let headers = response.headers().clone();
        if response
            .content_length()
            .is_some_and(|length| length > MAX_RESPONSE_BYTES as u64)
        {
            return Err(Error::BadResponse {
                server,
                reason: "response too large".to_owned(),
            });
        }
        let bytes = response.bytes().await.map_err(|err| Error::Transport {
            server: server.clone(),
            reason: error_chain(&err),
        })?;
        if bytes.len() > MAX_RESPONSE_BYTES {
            return Err(Error::BadResponse {
                server,
                reason: "response too large".to_owned(),
            });
        }
        Ok((status, headers, bytes))
    }

    async fn client_for(&self, target: &Destination) -> Result<reqwest::Client> {
        let Some((host, port)) = &target.connect_to else {
            return Ok(self.http.clone());
        };
        let name = target.host_header.clone();
        let key = format!("{name}:{port}");
        if let Some(client) = self.pinned.lock().get(&key) {
            return Ok(client.clone());
        }
        let addrs = self.resolver.lookup(host, *port).await?;
        let client = http_client(&self.tls, Some((&name, &addrs)))?;
        self.pinned.lock().insert(key, client.clone());
        Ok(client)
    }
}

/// The error and its causes on one line (reqwest hides the TLS reason in the source chain).
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A federation answer whose body is read as it arrives ([`FederationClient::send_streamed`]).
pub struct StreamedResponse {
    /// Its status.
    pub status: http::StatusCode,
    /// Its headers.
    pub headers: http::HeaderMap,
    /// Its body, chunk by chunk; a transfer cut short ends with an error.
    pub body: std::pin::Pin<Box<dyn futures::Stream<Item = std::io::Result<bytes::Bytes>> + Send>>,
}

impl StreamedResponse {
    fn new(response: reqwest::Response) -> Self {
        let status = response.status();
        let headers = response.headers().clone();
        let body = futures::stream::try_unfold(response, |mut response| async move {
            match response.chunk().await {
                Ok(Some(chunk)) => Ok(Some((chunk, response))),
                Ok(None) => Ok(None),
                Err(err) => Err(std::io::Error::other(error_chain(&err))),
            }
        });
        Self {
            status,
            headers,
            body: Box::pin(body),
        }
    }

    /// The start of a failed answer's body (at most 500 characters), for its error.
    pub async fn error_text(mut self) -> String {
        use futures::StreamExt;
        let mut bytes = Vec::new();
        while bytes.len() < 2048 {
            match self.body.next().await {
                Some(Ok(chunk)) => bytes.extend_from_slice(&chunk),
                _ => break,
            }
        }
        String::from_utf8_lossy(&bytes).chars().take(500).collect()
    }
}
