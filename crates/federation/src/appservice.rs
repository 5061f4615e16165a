//! Outbound requests to application services (spec: application-service-api.md): transactions,
//! user and alias queries, pings and third-party lookups, each with `Authorization: Bearer
//! <hs_token>`.
//!
//! A service's URL is set by the server's admin in its registration, so unlike push gateways
//! and URL previews no address is refused: bridges usually listen on loopback. Failures are
//! told apart (timeout, connection, an HTTP error with its body) because the ping endpoint
//! reports each with its own errcode.

use std::{path::Path, time::Duration};

use bytes::Bytes;
use ruma::api::{
    IncomingResponseExt, OutgoingRequest, OutgoingRequestExt, appservice::HomeserverToken, path_builder::PathBuilder,
};

use crate::{Error, Result};

/// The longest a service may take to answer one request.
const APPSERVICE_TIMEOUT: Duration = Duration::from_secs(60);

/// Largest answer read from a service.
const MAX_ANSWER: usize = 4 * 1024 * 1024;

/// Why a request to a service failed.
#[derive(Debug, thiserror::Error)]
pub enum AppserviceError {
    /// No answer in time.
    #[error("the application service did not answer in time")]
    Timeout,
    /// It could not be reached.
    #[error("the application service could not be reached: {0}")]
    Unreachable(String),
    /// It answered with an HTTP error.
    #[error("the application service answered {status}: {body}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// The start of its body.
        body: String,
    },
    /// Its answer could not be understood, or the request could not be built.
    #[error("bad exchange with the application service: {0}")]
    Bad(String),
}

/// HTTP to application services. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AppserviceClient {
    http: reqwest::Client,
}

impl AppserviceClient {
    /// A client trusting the system roots and `tls_ca_file` (services behind TLS with an
    /// in-house CA).
    pub fn new(tls_ca_file: Option<&Path>) -> Result<Self> {
        let tls = crate::tls::client_config(tls_ca_file)?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(rustls::ClientConfig::clone(&tls))
            .timeout(APPSERVICE_TIMEOUT)
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("Accord (application services)")
            .build()
            .map_err(|err| Error::Tls(err.to_string()))?;
        Ok(Self { http })
    }

    /// Sends a typed request of the application service API to the service at `base_url`.
    pub async fn send<R>(
        &self,
        base_url: &str,
        hs_token: &str,
        request: R,
    ) -> std::result::Result<R::IncomingResponse, AppserviceError>
    where
        R: OutgoingRequest<Authentication = HomeserverToken>,
        for<'a> <R::PathBuilder as PathBuilder>::Input<'a>: Default,
    {
        let http_request = request
            .try_into_http_request::<Vec<u8>>(base_url.trim_end_matches('/'), hs_token, Default::default())
            .map_err(|err| AppserviceError::Bad(format!("cannot build request: {err}")))?;
        let (parts, body) = http_request.into_parts();
        let (status, bytes) = self
            .exchange(parts.method, &parts.uri.to_string(), hs_token, body)
            .await?;
        let response = http::Response::builder()
            .status(status)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(bytes.as_ref())
            .map_err(|err| AppserviceError::Bad(err.to_string()))?;
        R::IncomingResponse::try_from_http_response(response).map_err(|err| AppserviceError::Bad(err.to_string()))
    }

    /// `PUT /_matrix/app/v1/transactions/{txn_id}` with a body built (and stored) earlier.
    pub async fn put_transaction(
        &self,
        base_url: &str,
        hs_token: &str,
        txn_id: u64,
        body: Vec<u8>,
    ) -> std::result::Result<(), AppserviceError> {
        let url = format!(
            "{}/_matrix/app/v1/transactions/{txn_id}",
            base_url.trim_end_matches('/')
        );
        self.exchange(http::Method::PUT, &url, hs_token, body).await.map(|_| ())
    }

    /// One exchange: a 2xx answer's status and body, or why there was none.
    async fn exchange(
        &self,
        method: http::Method,
        url: &str,
        hs_token: &str,
        body: Vec<u8>,
    ) -> std::result::Result<(http::StatusCode, Bytes), AppserviceError> {
        let response = self
            .http
            .request(method, url)
            .bearer_auth(hs_token)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|err| {
                if err.is_timeout() {
                    AppserviceError::Timeout
                } else {
                    AppserviceError::Unreachable(crate::client::error_chain(&err))
                }
            })?;
        let status = response.status();
        if response.content_length().is_some_and(|len| len > MAX_ANSWER as u64) {
            return Err(AppserviceError::Bad(format!("answer larger than {MAX_ANSWER} bytes")));
        }
        let bytes = response.bytes().await.map_err(|err| {
            if err.is_timeout() {
                AppserviceError::Timeout
            } else {
                AppserviceError::Unreachable(crate::client::error_chain(&err))
            }
        })?;
        if !status.is_success() {
            return Err(AppserviceError::Status {
                status: status.as_u16(),
                body: String::from_utf8_lossy(&bytes).chars().take(500).collect(),
            });
        }
        Ok((status, bytes))
    }
}
