//! One OpenID Connect provider: its metadata (discovered at the first login, read again
//! hourly and when an ID token is signed with a key it doesn't list: keys rotate), the
//! authorization URL a browser is sent to (code flow, PKCE S256, state and nonce), and the
//! code exchange whose ID token is checked (signature by the provider's JWKS, issuer,
//! audience, nonce, expiry) before any claim is believed.

use accord_core::config::OidcProviderConfig;
use accord_federation::OidcHttp;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
    core::{CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata},
};
use serde_json::{Map, Value};
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::sync::RwLock;

use crate::{Error, Result};

/// What a browser is sent to, and what must be kept to finish the login.
#[derive(Debug)]
pub(crate) struct Authorization {
    /// The provider's authorization URL with every parameter.
    pub url: String,
    /// The `state` parameter.
    pub state: String,
    /// The nonce the ID token must carry.
    pub nonce: String,
    /// The PKCE verifier of the challenge sent.
    pub pkce_verifier: String,
}

/// A configured provider.
#[derive(Debug)]
pub(crate) struct Provider {
    pub config: OidcProviderConfig,
    secret: Option<String>,
    http: OidcHttp,
    metadata: RwLock<Option<(Arc<CoreProviderMetadata>, Instant)>>,
}

fn failed(provider: &str, what: &str, err: impl std::fmt::Display) -> Error {
    tracing::warn!(%provider, %err, "OpenID Connect {what} failed");
    Error::forbidden(format!("Login through {provider} failed: {what}: {err}"))
}

impl Provider {
    pub(crate) fn new(config: OidcProviderConfig) -> Result<Self> {
        let secret = config.client_secret().map_err(|err| {
            Error::Internal(format!(
                "cannot read the client secret of provider {}: {err}",
                config.id
            ))
        })?;
        let http = OidcHttp::new(config.ca_file.as_deref()).map_err(|err| Error::Internal(err.to_string()))?;
        Ok(Self {
            config,
            secret,
            http,
            metadata: RwLock::new(None),
        })
    }

    /// The provider's metadata (with its signing keys), read again when older than an hour;
    /// a failed discovery is tried again at the next login.
    async fn metadata(&self) -> Result<Arc<CoreProviderMetadata>> {
        if let Some((metadata, fetched)) = self.metadata.read().await.as_ref()
            && fetched.elapsed() < METADATA_MAX_AGE
        {
            return Ok(metadata.clone());
        }
        self.discover().await
    }

    /// Reads the metadata and keys afresh.
    async fn discover(&self) -> Result<Arc<CoreProviderMetadata>> {
        let issuer =
            IssuerUrl::new(self.config.issuer.clone()).map_err(|err| failed(&self.config.id, "issuer URL", err))?;
        let http = Http(self.http.clone());
        let metadata = CoreProviderMetadata::discover_async(issuer, &http)
            .await
            .map_err(|err| failed(&self.config.id, "discovery", describe(&err)))?;
        let metadata = Arc::new(metadata);
        *self.metadata.write().await = Some((metadata.clone(), Instant::now()));
        Ok(metadata)
    }

    /// How long ago the metadata was read.
    async fn metadata_age(&self) -> Option<Duration> {
        self.metadata
            .read()
            .await
            .as_ref()
            .map(|(_, fetched)| fetched.elapsed())
    }

    async fn client(&self, redirect_uri: &str) -> Result<ProviderClient> {
        let metadata = CoreProviderMetadata::clone(&*self.metadata().await?);
        let redirect = RedirectUrl::new(redirect_uri.to_owned()).map_err(|err| Error::Internal(err.to_string()))?;
        Ok(CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.config.client_id.clone()),
            self.secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(redirect))
    }

    /// Where to send the browser.
    pub(crate) async fn authorize(&self, redirect_uri: &str) -> Result<Authorization> {
        let client = self.client(redirect_uri).await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for scope in self.config.scopes.iter().filter(|scope| *scope != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.url();
        Ok(Authorization {
            url: url.to_string(),
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        })
    }

    /// Exchanges `code` and returns the claims of the checked ID token.
    pub(crate) async fn finish(
        &self,
        redirect_uri: &str,
        code: String,
        nonce: String,
        pkce_verifier: String,
    ) -> Result<Map<String, Value>> {
        let id = &self.config.id;
        let client = self.client(redirect_uri).await?;
        let http = Http(self.http.clone());
        let tokens = client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|err| failed(id, "token endpoint", err))?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier))
            .request_async(&http)
            .await
            .map_err(|err| failed(id, "code exchange", describe(&err)))?;
        let id_token = tokens
            .id_token()
            .ok_or_else(|| failed(id, "code exchange", "the answer has no ID token"))?;
        let nonce = Nonce::new(nonce);
        if let Err(err) = id_token.claims(&verifier(&client, &*self.metadata().await?), &nonce) {
            // A key the provider rotated in since the metadata was read: read it again (at
            // most every few seconds, so bad tokens can't make Accord hammer the provider)
            // and check once more.
            let stale = self.metadata_age().await.is_none_or(|age| age > REDISCOVERY_INTERVAL);
            if !stale {
                return Err(failed(id, "ID token check", err));
            }
            self.discover().await?;
            let client = self.client(redirect_uri).await?;
            id_token
                .claims(&verifier(&client, &*self.metadata().await?), &nonce)
                .map_err(|err| failed(id, "ID token check", err))?;
        }
        // Checked: the payload of this exact token is the provider's, so any claim in it (not
        // only the standard ones the library types) can be read.
        let jwt = id_token.to_string();
        let mut claims = jwt
            .split('.')
            .nth(1)
            .and_then(|part| URL_SAFE_NO_PAD.decode(part).ok())
            .and_then(|bytes| serde_json::from_slice::<Map<String, Value>>(&bytes).ok())
            .ok_or_else(|| failed(id, "ID token check", "unreadable payload"))?;
        let wanted = [&self.config.localpart_claim, &self.config.displayname_claim];
        if wanted.iter().any(|claim| !claims.contains_key(claim.as_str())) {
            // Many providers put profile claims only in the userinfo answer (the spec's rule
            // for the code flow); fetch it and fill in what the ID token lacked.
            let access_token = tokens.access_token().secret().clone();
            if let Some(userinfo) = self.userinfo(&access_token).await? {
                if userinfo.get("sub") != claims.get("sub") {
                    return Err(failed(id, "userinfo", "its subject differs from the ID token's"));
                }
                for (claim, value) in userinfo {
                    claims.entry(claim).or_insert(value);
                }
            }
        }
        Ok(claims)
    }

    /// The userinfo endpoint's claims (a JSON answer), when the provider has the endpoint.
    async fn userinfo(&self, access_token: &str) -> Result<Option<Map<String, Value>>> {
        let id = &self.config.id;
        let metadata = self.metadata().await?;
        let Some(endpoint) = metadata.userinfo_endpoint() else {
            return Ok(None);
        };
        let request = http::Request::get(endpoint.url().as_str())
            .header(http::header::AUTHORIZATION, format!("Bearer {access_token}"))
            .header(http::header::ACCEPT, "application/json")
            .body(Vec::new())
            .map_err(|err| failed(id, "userinfo", err))?;
        let response = self
            .http
            .call(request)
            .await
            .map_err(|err| failed(id, "userinfo", err))?;
        if !response.status().is_success() {
            return Err(failed(id, "userinfo", format!("status {}", response.status())));
        }
        let claims = serde_json::from_slice(response.body()).map_err(|err| failed(id, "userinfo", err))?;
        Ok(Some(claims))
    }
}

/// A client built from the provider's metadata: authorization endpoint set, token and
/// userinfo endpoints as the metadata says.
type ProviderClient = CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

/// How long the provider's metadata and keys are used before they are read again.
const METADATA_MAX_AGE: Duration = Duration::from_secs(60 * 60);
/// The least time between two readings forced by an ID token that didn't verify.
const REDISCOVERY_INTERVAL: Duration = Duration::from_secs(5);

/// The ID token verifier of `client`: Accord's client id, the issuer, the provider's keys, and
/// the algorithms the provider says it signs with (RS256 when it says none), never `none`: an
/// unsigned token proves nothing.
fn verifier<'a>(
    client: &'a ProviderClient,
    metadata: &CoreProviderMetadata,
) -> openidconnect::core::CoreIdTokenVerifier<'a> {
    let algorithms: Vec<CoreJwsSigningAlgorithm> = metadata
        .id_token_signing_alg_values_supported()
        .iter()
        .filter(|alg| **alg != CoreJwsSigningAlgorithm::None)
        .cloned()
        .collect();
    let verifier = client.id_token_verifier();
    if algorithms.is_empty() {
        verifier
    } else {
        verifier.set_allowed_algs(algorithms)
    }
}

/// The OpenID library's HTTP through our client. Its futures own what they use, so they are
/// `Send` for every lifetime (a borrowing closure's aren't, which axum's handlers need).
struct Http(OidcHttp);

impl<'c> openidconnect::AsyncHttpClient<'c> for Http {
    type Error = accord_federation::OidcHttpError;
    type Future = std::pin::Pin<
        Box<dyn Future<Output = std::result::Result<openidconnect::HttpResponse, Self::Error>> + Send + 'c>,
    >;

    fn call(&'c self, request: openidconnect::HttpRequest) -> Self::Future {
        let http = self.0.clone();
        Box::pin(async move { http.call(request).await })
    }
}

/// An error with its sources, on one line (the library's top-level messages are terse).
fn describe(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}
