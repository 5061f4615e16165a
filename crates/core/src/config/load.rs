//! Reading the configuration: embedded defaults, then the TOML file, then `ACCORD_*`
//! environment variables; then validation. Every failure is one line naming the key.

use std::path::Path;

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};

use super::Config;

/// A configuration problem, rendered as one line: the key (when there is one) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", render(.key.as_deref(), .message))]
pub struct ConfigError {
    /// Dotted key path (`database.path`), if the problem belongs to one key.
    pub key: Option<String>,
    /// What is wrong, and where it came from, on one line.
    pub message: String,
}

fn render(key: Option<&str>, message: &str) -> String {
    match key {
        Some(key) => format!("config key `{key}`: {message}"),
        None => format!("config: {message}"),
    }
}

impl ConfigError {
    /// A problem with one key.
    pub fn key(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: Some(key.into()),
            message: one_line(message.into()),
        }
    }

    /// A problem with the configuration as a whole (unreadable file, bad TOML syntax).
    pub fn general(message: impl Into<String>) -> Self {
        Self {
            key: None,
            message: one_line(message.into()),
        }
    }
}

fn one_line(message: String) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl Config {
    /// Loads defaults, then `file` (if given), then `ACCORD_*` environment overrides, and
    /// validates the result.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if let Err(err) = std::fs::metadata(file) {
                return Err(ConfigError::general(format!(
                    "cannot read config file {}: {err}",
                    file.display()
                )));
            }
            figment = figment.merge(Toml::file_exact(file));
        }
        figment = figment.merge(Env::prefixed("ACCORD_").split("__"));
        Self::extract(figment)
    }

    /// Parses a TOML document over the defaults (no environment), then validates. For tests and
    /// tools that hold the text in memory.
    pub fn from_toml_str(toml: &str) -> Result<Self, ConfigError> {
        Self::extract(Figment::from(Serialized::defaults(Config::default())).merge(Toml::string(toml)))
    }

    fn extract(figment: Figment) -> Result<Self, ConfigError> {
        let config: Config = figment.extract().map_err(from_figment)?;
        config.validate()?;
        Ok(config)
    }
}

/// Turns figment's error (possibly several) into our one-line form, naming the first key.
fn from_figment(error: figment::Error) -> ConfigError {
    use figment::error::Kind;

    let Some(first) = error.into_iter().next() else {
        return ConfigError::general("invalid configuration");
    };
    let mut path = first.path.clone();
    let detail = match &first.kind {
        Kind::UnknownField(name, _) => {
            if path.last() != Some(name) {
                path.push(name.clone());
            }
            "unknown key; see conf/accord.toml for the keys that exist".to_owned()
        }
        Kind::MissingField(name) => {
            path.push(name.to_string());
            "missing".to_owned()
        }
        other => other.to_string(),
    };
    let source = first
        .metadata
        .as_ref()
        .map(|meta| match &meta.source {
            Some(source) => format!(" (from {source})"),
            None => format!(" (from {})", meta.name),
        })
        .unwrap_or_default();
    let message = format!("{detail}{source}");
    if path.is_empty() {
        ConfigError::general(message)
    } else {
        ConfigError::key(path.join("."), message)
    }
}
