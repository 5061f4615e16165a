//! Outbound HTTP to addresses users choose (URL previews, push gateways), so every address is
//! checked before a connection. The resolver refuses
//! names whose addresses are all in the deny list (loopback, private, link-local and the
//! other special ranges by default) unless in the allow list; literal IP hosts are checked the
//! same way; redirects are followed by hand, each hop checked; bodies stop at a size limit.

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use ipnet::IpNet;
use reqwest::{
    Url,
    dns::{Addrs, Name, Resolve, Resolving},
};

use crate::{Error, Result};

/// Most redirects followed for one page.
const MAX_REDIRECTS: usize = 5;

/// Which addresses previews may reach.
#[derive(Debug, Clone)]
pub struct AddressGuard {
    deny: Vec<IpNet>,
    allow: Vec<IpNet>,
}

impl AddressGuard {
    /// Parses the CIDR lists (`10.0.0.0/8`, `::1/128`, or a bare address).
    pub fn new(deny: &[String], allow: &[String]) -> Result<Self> {
        let parse = |list: &[String]| -> Result<Vec<IpNet>> {
            list.iter()
                .map(|text| {
                    text.parse::<IpNet>()
                        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
                        .map_err(|_| Error::Config(format!("{text:?} is not an IP range (like 10.0.0.0/8)")))
                })
                .collect()
        };
        Ok(Self {
            deny: parse(deny)?,
            allow: parse(allow)?,
        })
    }

    /// Whether `ip` may be reached: in the allow list, or in no denied range. IPv4 mapped
    /// into IPv6 is judged as IPv4.
    pub fn allows(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.allow.iter().any(|net| net.contains(&ip)) || !self.deny.iter().any(|net| net.contains(&ip))
    }
}

/// A resolver that hands reqwest only the addresses the guard allows.
struct GuardedResolver(Arc<AddressGuard>);

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = self.0.clone();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found.iter().copied().filter(|addr| guard.allows(addr.ip())).collect();
            if allowed.is_empty() {
                return Err(format!("{} resolves only to blocked addresses ({found:?})", name.as_str()).into());
            }
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

/// A fetched page (or image).
#[derive(Debug, Clone)]
pub struct WebPage {
    /// The URL it came from, after redirects.
    pub url: String,
    /// Its `Content-Type`.
    pub content_type: Option<String>,
    /// Its body.
    pub body: bytes::Bytes,
}

/// The guarded fetcher of URL previews.
#[derive(Clone)]
pub struct WebFetcher {
    http: reqwest::Client,
    guard: Arc<AddressGuard>,
    max_bytes: usize,
}

impl std::fmt::Debug for WebFetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebFetcher")
            .field("guard", &self.guard)
            .finish_non_exhaustive()
    }
}

impl WebFetcher {
    /// A fetcher under `guard`, with TLS from the system roots (and `tls_ca_file`), a time
    /// limit per request and a size limit per body.
    pub fn new(
        guard: AddressGuard,
        tls_ca_file: Option<&std::path::Path>,
        timeout: Duration,
        max_bytes: usize,
    ) -> Result<Self> {
        Self::for_purpose("URL preview", guard, tls_ca_file, timeout, max_bytes)
    }

    /// [`Self::new`], naming what the requests are for in the `User-Agent` ("push", say).
    pub fn for_purpose(
        purpose: &str,
        guard: AddressGuard,
        tls_ca_file: Option<&std::path::Path>,
        timeout: Duration,
        max_bytes: usize,
    ) -> Result<Self> {
        let tls = crate::tls::client_config(tls_ca_file)?;
        let guard = Arc::new(guard);
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(rustls::ClientConfig::clone(&tls))
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(GuardedResolver(guard.clone())))
            .user_agent(format!("Accord ({purpose})"))
            .build()
            .map_err(|err| Error::Tls(err.to_string()))?;
        Ok(Self { http, guard, max_bytes })
    }

    /// `relative` (an `og:image`, say) resolved against the page `base`.
    pub fn join(base: &str, relative: &str) -> Option<String> {
        Url::parse(base).ok()?.join(relative).ok().map(String::from)
    }

    /// Fetches `url` (http or https), following up to five redirects, each checked.
    pub async fn fetch(&self, url: &str) -> Result<WebPage> {
        let mut current = Url::parse(url).map_err(|err| Error::Blocked(format!("not a URL: {err}")))?;
        for _ in 0..=MAX_REDIRECTS {
            self.check(&current).await?;
            let response = self
                .http
                .get(current.clone())
                .send()
                .await
                .map_err(|err| Error::Transport {
                    server: current.host_str().unwrap_or_default().to_owned(),
                    reason: crate::client::error_chain(&err),
                })?;
            if response.status().is_redirection() {
                let location = response
                    .headers()
                    .get(http::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| Error::Blocked("a redirect without a Location".to_owned()))?;
                current = current
                    .join(location)
                    .map_err(|err| Error::Blocked(format!("a redirect to a bad URL: {err}")))?;
                continue;
            }
            if !response.status().is_success() {
                return Err(Error::Remote {
                    server: current.host_str().unwrap_or_default().to_owned(),
                    status: response.status().as_u16(),
                    body: String::new(),
                });
            }
            return self.read(current, response).await;
        }
        Err(Error::Blocked(format!("more than {MAX_REDIRECTS} redirects")))
    }

    /// POSTs `body` as JSON to `url` (a push gateway), checked like a page fetch, following no
    /// redirect; returns the status and the answer's JSON (`Null` when it has none).
    pub async fn post_json(&self, url: &str, body: &serde_json::Value) -> Result<(u16, serde_json::Value)> {
        let url = Url::parse(url).map_err(|err| Error::Blocked(format!("not a URL: {err}")))?;
        self.check(&url).await?;
        let host = url.host_str().unwrap_or_default().to_owned();
        let response = self
            .http
            .post(url.clone())
            .json(body)
            .send()
            .await
            .map_err(|err| Error::Transport {
                server: host.clone(),
                reason: crate::client::error_chain(&err),
            })?;
        let status = response.status().as_u16();
        let page = self.read(url, response).await?;
        Ok((status, serde_json::from_slice(&page.body).unwrap_or_default()))
    }

    /// Whether `url`'s host, when it is a literal address, may be reached (names are checked
    /// when connecting).
    pub fn allows_literal(&self, url: &Url) -> bool {
        match url.host() {
            Some(url::Host::Ipv4(v4)) => self.guard.allows(IpAddr::V4(v4)),
            Some(url::Host::Ipv6(v6)) => self.guard.allows(IpAddr::V6(v6)),
            _ => true,
        }
    }

    /// Refuses schemes other than http(s), literal addresses the guard denies, and names that
    /// resolve only to denied addresses (checked here for a clear answer, and again by the
    /// resolver at connection time, so a name that changes its answer gains nothing).
    async fn check(&self, url: &Url) -> Result<()> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::Blocked(format!("{} URLs are not fetched", url.scheme())));
        }
        let ip = match url.host() {
            Some(url::Host::Ipv4(v4)) => IpAddr::V4(v4),
            Some(url::Host::Ipv6(v6)) => IpAddr::V6(v6),
            Some(url::Host::Domain(name)) => {
                let found: Vec<SocketAddr> = tokio::net::lookup_host((name, 0))
                    .await
                    .map_err(|err| Error::Resolve {
                        server: name.to_owned(),
                        reason: err.to_string(),
                    })?
                    .collect();
                if found.iter().any(|addr| self.guard.allows(addr.ip())) {
                    return Ok(());
                }
                return Err(Error::Blocked(format!("{name} resolves only to blocked addresses")));
            }
            None => return Err(Error::Blocked("a URL without a host".to_owned())),
        };
        if self.guard.allows(ip) {
            Ok(())
        } else {
            Err(Error::Blocked(format!("{ip} is a blocked address")))
        }
    }

    /// Reads the body up to the size limit.
    async fn read(&self, url: Url, mut response: reqwest::Response) -> Result<WebPage> {
        let too_large = || Error::Blocked(format!("the page is larger than {} bytes", self.max_bytes));
        if response.content_length().is_some_and(|len| len > self.max_bytes as u64) {
            return Err(too_large());
        }
        let content_type = response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut body = bytes::BytesMut::new();
        while let Some(chunk) = response.chunk().await.map_err(|err| Error::Transport {
            server: url.host_str().unwrap_or_default().to_owned(),
            reason: crate::client::error_chain(&err),
        })? {
            if body.len() + chunk.len() > self.max_bytes {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(WebPage {
            url: url.into(),
            content_type,
            body: body.freeze(),
        })
    }
}
