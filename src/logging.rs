//! Log output: `RUST_LOG` if set, else `logging.filter`; text or JSON lines on stderr.

use accord_core::config::{LogFormat, LoggingConfig};
use tracing_subscriber::{EnvFilter, fmt};

/// Installs the global subscriber (once per process).
pub(crate) fn init(config: &LoggingConfig) -> Result<(), String> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(value) if !value.is_empty() => EnvFilter::try_new(&value).map_err(|err| format!("RUST_LOG: {err}"))?,
        _ => EnvFilter::try_new(&config.filter).map_err(|err| format!("config key `logging.filter`: {err}"))?,
    };
    // Colour codes only on a terminal: in files, journald and `docker logs` they are noise.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let result = match config.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    result.map_err(|err| format!("cannot install the logger: {err}"))
}
