//! Server name resolution, exactly as the spec's "Resolving server names" orders it: IP
//! literals, explicit ports, `/.well-known/matrix/server` (cached, with backoff on failure),
//! SRV `_matrix-fed._tcp` then `_matrix._tcp`, and finally port 8448.

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::{Duration, Instant},
};

use hickory_resolver::{TokioResolver, proto::rr::RData};
use parking_lot::Mutex;
use ruma::ServerName;
use serde::Deserialize;

use crate::{Error, Result};

/// The default federation port.
const DEFAULT_PORT: u16 = 8448;
/// How long a well-known answer is trusted.
const WELL_KNOWN_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// How long a failed well-known lookup is remembered before trying again.
const WELL_KNOWN_BACKOFF: Duration = Duration::from_secs(60 * 60);
/// Time allowed for a well-known fetch.
const WELL_KNOWN_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest well-known body read.
const WELL_KNOWN_MAX_BYTES: usize = 50 * 1024;

/// Where to send requests for a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// Base URL: `https://<tls name>:<port>`; the TLS certificate must be valid for the name.
    pub base_url: String,
    /// The `Host` header value.
    pub host_header: String,
    /// When SRV pointed elsewhere: the host actually connected to (the base URL's name is
    /// mapped to it for this request).
    pub connect_to: Option<(String, u16)>,
}

/// A cached well-known answer (`None`: there is none) and when it expires.
type WellKnownEntry = (Option<String>, Instant);

/// Resolves server names, caching well-known answers.
#[derive(Clone)]
pub struct Resolver {
    dns: Arc<TokioResolver>,
    http: reqwest::Client,
    well_known: Arc<Mutex<HashMap<String, WellKnownEntry>>>,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver").finish_non_exhaustive()
    }
}

/// `host[:port]` split, with IPv6 literals in brackets.
fn split_host_port(name: &str) -> (String, Option<u16>) {
    if let Some(rest) = name.strip_prefix('[')
        && let Some((ip, after)) = rest.split_once(']')
    {
        let port = after.strip_prefix(':').and_then(|p| p.parse().ok());
        return (ip.to_owned(), port);
    }
    match name.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => match port.parse() {
            Ok(port) => (host.to_owned(), Some(port)),
            Err(_) => (name.to_owned(), None),
        },
        _ => (name.to_owned(), None),
    }
}

fn url_host(host: &str) -> String {
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V6(ip)) => format!("[{ip}]"),
        _ => host.to_owned(),
    }
}

/// Resolution that needs no network: IP literals and explicit ports.
fn direct(name: &str) -> Option<Destination> {
    let (host, port) = split_host_port(name);
    if host.parse::<IpAddr>().is_ok() {
        let port = port.unwrap_or(DEFAULT_PORT);
        return Some(Destination {
            base_url: format!("https://{}:{port}", url_host(&host)),
            host_header: name.to_owned(),
            connect_to: None,
        });
    }
    port.map(|port| Destination {
        base_url: format!("https://{host}:{port}"),
        host_header: name.to_owned(),
        connect_to: None,
    })
}

#[derive(Deserialize)]
struct WellKnown {
    #[serde(rename = "m.server")]
    server: String,
}

impl Resolver {
    pub(crate) fn new(tls: Arc<rustls::ClientConfig>) -> Result<Self> {
        let dns = TokioResolver::builder_tokio()
            .map_err(|err| Error::Resolve {
                server: "(resolver)".to_owned(),
                reason: err.to_string(),
            })?
            .build()
            .map_err(|err| Error::Resolve {
                server: "(resolver)".to_owned(),
                reason: err.to_string(),
            })?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(rustls::ClientConfig::clone(&tls))
            .timeout(WELL_KNOWN_TIMEOUT)
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()
            .map_err(|err| Error::Tls(err.to_string()))?;
        Ok(Self {
            dns: Arc::new(dns),
            http,
            well_known: Arc::default(),
        })
    }

    /// Where to send requests for `server`.
    pub async fn resolve(&self, server: &ServerName) -> Result<Destination> {
        let name = server.as_str();
        if let Some(destination) = direct(name) {
            return Ok(destination);
        }
        if let Some(delegated) = self.well_known(name).await {
            if let Some(destination) = direct(&delegated) {
                return Ok(destination);
            }
            return Ok(self.srv_or_default(&delegated).await);
        }
        Ok(self.srv_or_default(name).await)
    }

    /// SRV `_matrix-fed._tcp`, then the deprecated `_matrix._tcp`, then port 8448. The TLS name
    /// and Host header stay `hostname` whatever the SRV target is.
    async fn srv_or_default(&self, hostname: &str) -> Destination {
        for service in ["_matrix-fed._tcp", "_matrix._tcp"] {
            let Ok(lookup) = self.dns.srv_lookup(format!("{service}.{hostname}.")).await else {
                continue;
            };
            let best = lookup
                .answers()
                .iter()
                .filter_map(|record| match &record.data {
                    RData::SRV(srv) => Some(srv),
                    _ => None,
                })
                .min_by_key(|srv| (srv.priority, u16::MAX - srv.weight));
            if let Some(srv) = best {
                let target = srv.target.to_utf8().trim_end_matches('.').to_owned();
                let port = srv.port;
                return Destination {
                    base_url: format!("https://{hostname}:{port}"),
                    host_header: hostname.to_owned(),
                    connect_to: Some((target, port)),
                };
            }
        }
        Destination {
            base_url: format!("https://{hostname}:{DEFAULT_PORT}"),
            host_header: hostname.to_owned(),
            connect_to: None,
        }
    }

    /// The `m.server` of `hostname`'s well-known, cached; `None` when there is none.
    async fn well_known(&self, hostname: &str) -> Option<String> {
        if let Some((answer, expires)) = self.well_known.lock().get(hostname).cloned()
            && expires > Instant::now()
        {
            return answer;
        }
        let answer = self.fetch_well_known(hostname).await;
        let ttl = if answer.is_some() {
            WELL_KNOWN_TTL
        } else {
            WELL_KNOWN_BACKOFF
        };
        self.well_known
            .lock()
            .insert(hostname.to_owned(), (answer.clone(), Instant::now() + ttl));
        answer
    }

    async fn fetch_well_known(&self, hostname: &str) -> Option<String> {
        let response = self
            .http
            .get(format!("https://{hostname}/.well-known/matrix/server"))
            .send()
            .await
            .ok()?;
        if !response.status().is_success() {
            return None;
        }
        let bytes = response.bytes().await.ok()?;
        if bytes.len() > WELL_KNOWN_MAX_BYTES {
            return None;
        }
        let parsed: WellKnown = serde_json::from_slice(&bytes).ok()?;
        // The delegated name must itself be a valid server name.
        <&ServerName>::try_from(parsed.server.as_str()).ok()?;
        Some(parsed.server)
    }

    /// Addresses for a host (for SRV targets the HTTP client connects to).
    pub(crate) async fn lookup(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        let lookup = self.dns.lookup_ip(host).await.map_err(|err| Error::Resolve {
            server: host.to_owned(),
            reason: err.to_string(),
        })?;
        Ok(lookup.iter().map(|ip| SocketAddr::new(ip, port)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_literals_and_explicit_ports_need_no_lookup() {
        let d = direct("127.0.0.1:8449").expect("ip with port");
        assert_eq!(
            (d.base_url.as_str(), d.host_header.as_str()),
            ("https://127.0.0.1:8449", "127.0.0.1:8449")
        );
        let d = direct("127.0.0.1").expect("ip");
        assert_eq!(d.base_url, "https://127.0.0.1:8448");
        let d = direct("[::1]:8000").expect("ipv6 with port");
        assert_eq!(
            (d.base_url.as_str(), d.host_header.as_str()),
            ("https://[::1]:8000", "[::1]:8000")
        );
        let d = direct("[::1]").expect("ipv6");
        assert_eq!(d.base_url, "https://[::1]:8448");
        let d = direct("matrix.example.org:443").expect("host with port");
        assert_eq!(
            (d.base_url.as_str(), d.host_header.as_str()),
            ("https://matrix.example.org:443", "matrix.example.org:443")
        );
        assert_eq!(
            direct("example.org"),
            None,
            "a bare hostname goes through well-known and SRV"
        );
    }

    #[test]
    fn host_port_split() {
        assert_eq!(
            split_host_port("example.org:8448"),
            ("example.org".to_owned(), Some(8448))
        );
        assert_eq!(split_host_port("example.org"), ("example.org".to_owned(), None));
        assert_eq!(
            split_host_port("[2001:db8::1]:99"),
            ("2001:db8::1".to_owned(), Some(99))
        );
    }
}
