//! Log output and traces: `RUST_LOG` if set, else `logging.filter`, as text or JSON lines on
//! stderr; with `[telemetry] enabled`, tracing's spans (each request's, and those inside it)
//! also go to an OpenTelemetry collector over OTLP/HTTP, filtered on their own
//! (`telemetry.filter`).

use accord_core::config::{LogFormat, LoggingConfig, TelemetryConfig};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing_subscriber::{EnvFilter, Layer, fmt, layer::SubscriberExt as _, util::SubscriberInitExt as _};

/// The trace exporter, when on: flushed at shutdown so the last spans are not lost.
pub(crate) struct Telemetry(Option<SdkTracerProvider>);

impl Telemetry {
    /// Sends the spans still buffered and stops the exporter.
    pub(crate) fn shutdown(self) {
        if let Some(provider) = self.0
            && let Err(err) = provider.shutdown()
        {
            tracing::warn!(%err, "the trace exporter did not shut down cleanly");
        }
    }
}

/// Installs the global subscriber (once per process).
pub(crate) fn init(config: &LoggingConfig, telemetry: &TelemetryConfig) -> Result<Telemetry, String> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(value) if !value.is_empty() => EnvFilter::try_new(&value).map_err(|err| format!("RUST_LOG: {err}"))?,
        _ => EnvFilter::try_new(&config.filter).map_err(|err| format!("config key `logging.filter`: {err}"))?,
    };
    // Colour codes only on a terminal: in files, journald and `docker logs` they are noise.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let log = match config.format {
        LogFormat::Text => fmt::layer().with_ansi(ansi).with_writer(std::io::stderr).boxed(),
        LogFormat::Json => fmt::layer()
            .json()
            .flatten_event(true)
            .with_writer(std::io::stderr)
            .boxed(),
    }
    .with_filter(filter);
    let (traces, provider) = match telemetry.enabled {
        true => {
            let (layer, provider) = trace_layer(telemetry)?;
            (Some(layer), Some(provider))
        }
        false => (None, None),
    };
    tracing_subscriber::registry()
        .with(log)
        .with(traces)
        .try_init()
        .map_err(|err| format!("cannot install the logger: {err}"))?;
    if telemetry.enabled {
        tracing::info!(endpoint = %telemetry.endpoint, "exporting traces over OTLP");
    }
    Ok(Telemetry(provider))
}

/// The layer turning tracing's spans into OpenTelemetry spans, batched to the collector from
/// the SDK's own thread (a collector that is down costs dropped spans, never a request).
fn trace_layer<S>(telemetry: &TelemetryConfig) -> Result<(impl Layer<S> + use<S>, SdkTracerProvider), String>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    // The exporter's HTTP client takes rustls' process-wide provider (the server's own TLS
    // names its provider explicitly, so nothing else has installed one yet).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(telemetry.endpoint.clone())
        .build()
        .map_err(|err| format!("config key `telemetry.endpoint`: cannot export there: {err}"))?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(telemetry.service_name.clone())
        .build();
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            telemetry.sample_ratio,
        ))))
        .with_resource(resource)
        .build();
    let filter =
        EnvFilter::try_new(&telemetry.filter).map_err(|err| format!("config key `telemetry.filter`: {err}"))?;
    let layer = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("accord"))
        .with_filter(filter);
    Ok((layer, provider))
}
