//! HTTP to OpenID Connect providers (discovery, keys, the token endpoint), for the OpenID
//! library's requests: no redirects followed (a provider's endpoints are where its metadata
//! says), a time limit, and the provider's own CA when it has one.

use std::{path::Path, time::Duration};

use crate::{Error, Result};

/// Longest wait for a provider's answer.
const TIMEOUT: Duration = Duration::from_secs(15);
/// Largest answer read (metadata, key sets and tokens are small).
const MAX_BODY: usize = 1024 * 1024;

/// An HTTP client for one provider. Cheap to clone.
#[derive(Clone, Debug)]
pub struct OidcHttp {
    http: reqwest::Client,
}

/// Why a request to a provider failed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct OidcHttpError(String);

impl OidcHttp {
    /// A client trusting the system roots and `ca_file`.
    pub fn new(ca_file: Option<&Path>) -> Result<Self> {
        let tls = crate::tls::client_config(ca_file)?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(rustls::ClientConfig::clone(&tls))
            .timeout(TIMEOUT)
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("Accord (OpenID Connect)")
            .build()
            .map_err(|err| Error::Tls(err.to_string()))?;
        Ok(Self { http })
    }

    /// Sends `request` and reads the whole answer (at most 1 MiB).
    pub async fn call(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> std::result::Result<http::Response<Vec<u8>>, OidcHttpError> {
        let (parts, body) = request.into_parts();
        let url = parts.uri.to_string();
        let mut outgoing = self.http.request(parts.method, &url).body(body);
        for (name, value) in &parts.headers {
            outgoing = outgoing.header(name, value);
        }
        let response = outgoing
            .send()
            .await
            .map_err(|err| OidcHttpError(format!("{url}: {err}")))?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .bytes()
            .await
            .map_err(|err| OidcHttpError(format!("{url}: {err}")))?;
        if bytes.len() > MAX_BODY {
            return Err(OidcHttpError(format!("{url}: answer larger than {MAX_BODY} bytes")));
        }
        let mut answer = http::Response::builder().status(status);
        if let Some(all) = answer.headers_mut() {
            *all = headers;
        }
        answer
            .body(bytes.to_vec())
            .map_err(|err| OidcHttpError(format!("{url}: {err}")))
    }
}
