//! `[metrics]`: Prometheus metrics, health and readiness on a listener of their own, so the
//! figures never share a port with users (keep it on loopback or an internal network).

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// `[metrics]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Whether the metrics listener runs.
    pub enabled: bool,
    /// Where it listens: `/metrics` (Prometheus text format), `/health` and `/ready`.
    pub bind: SocketAddr,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            bind: SocketAddr::from(([127, 0, 0, 1], 9092)),
        }
    }
}
