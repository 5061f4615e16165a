//! `[telemetry]`: OpenTelemetry traces over OTLP (HTTP, protobuf) to a collector the site runs
//! (Jaeger, Tempo, the OpenTelemetry Collector). Off by default: traces carry room and user ids
//! in their attributes, so they go only where an admin sends them.

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// `[telemetry]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// Whether spans are exported.
    pub enabled: bool,
    /// The collector's OTLP/HTTP traces endpoint.
    pub endpoint: String,
    /// `service.name` of the exported spans.
    pub service_name: String,
    /// The share of new traces kept, 0.0 to 1.0.
    pub sample_ratio: f64,
    /// Which spans are exported, in `RUST_LOG` syntax; apart from `logging.filter`, so the log
    /// can stay quiet while traces are kept.
    pub filter: String,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            endpoint: "http://127.0.0.1:4318/v1/traces".to_owned(),
            service_name: "accord".to_owned(),
            sample_ratio: 1.0,
            filter: "info".to_owned(),
        }
    }
}

impl TelemetryConfig {
    /// Checks the section; errors name the key.
    pub(crate) fn check(&self) -> Result<(), ConfigError> {
        let telemetry = self;
        if !(0.0..=1.0).contains(&telemetry.sample_ratio) {
            return Err(ConfigError::key(
                "telemetry.sample_ratio",
                "must be between 0.0 and 1.0",
            ));
        }
        let endpoint = url::Url::parse(&telemetry.endpoint)
            .map_err(|err| ConfigError::key("telemetry.endpoint", format!("not a URL: {err}")))?;
        if !matches!(endpoint.scheme(), "http" | "https") {
            return Err(ConfigError::key(
                "telemetry.endpoint",
                "must be an http or https URL (OTLP over HTTP), such as http://127.0.0.1:4318/v1/traces",
            ));
        }
        if telemetry.service_name.is_empty() {
            return Err(ConfigError::key("telemetry.service_name", "must not be empty"));
        }
        Ok(())
    }
}
