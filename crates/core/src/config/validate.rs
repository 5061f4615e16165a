//! Checks that need more than types: files that must be readable, paths that must be writable,
//! keys that only make sense together.

use std::path::{Path, PathBuf};

use super::{Config, ConfigError};

impl Config {
    /// Checks everything that deserialization cannot: TLS files readable and paired, the
    /// database directory writable, registration settings consistent.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_writable_dir("database.path", &self.database.path)?;
        check_tls_pair(
            "client_api",
            self.client_api.tls_cert.as_deref(),
            self.client_api.tls_key.as_deref(),
        )?;
        check_tls_pair(
            "federation",
            self.federation.tls_cert.as_deref(),
            self.federation.tls_key.as_deref(),
        )?;
        if self.federation.enabled && self.federation.tls_cert.is_none() {
            return Err(ConfigError::key(
                "federation.tls_cert",
                "required when federation.enabled = true (federation is served over TLS only)",
            ));
        }
        if let Some(ca) = &self.federation.tls_ca_file {
            check_readable("federation.tls_ca_file", ca)?;
        }
        if self.client_api.max_request_bytes == 0 {
            return Err(ConfigError::key(
                "client_api.max_request_bytes",
                "must be greater than 0",
            ));
        }
        self.telemetry.check()?;
        self.check_rate_limits()?;
        self.check_ldap()?;
        self.check_oidc()?;
        if self.registration.tokens.iter().any(|t| !valid_registration_token(t)) {
            return Err(ConfigError::key(
                "registration.tokens",
                "tokens must be 1-64 characters of A-Z a-z 0-9 . _ ~ -",
            ));
        }
        if self.registration.shared_secret.as_deref().is_some_and(str::is_empty) {
            return Err(ConfigError::key(
                "registration.shared_secret",
                "must not be empty; remove the key to disable",
            ));
        }
        if self.rooms.default_room_version.rules().is_none() {
            return Err(ConfigError::key(
                "rooms.default_room_version",
                format!(
                    "{} is not a room version this server knows (use \"1\" to \"12\")",
                    self.rooms.default_room_version
                ),
            ));
        }
        check_media_backend(self)?;
        if let Err(err) = crate::appservice::load_registrations(&self.appservice.registration_files, &self.server_name)
        {
            return Err(ConfigError::key("appservice.registration_files", err.to_string()));
        }
        if let Some(client) = &self.well_known.client
            && !(client.starts_with("https://") || client.starts_with("http://"))
        {
            return Err(ConfigError::key(
                "well_known.client",
                "must be an http:// or https:// URL",
            ));
        }
        Ok(())
    }
}

/// `media.backend = "s3"` needs a usable `[media.s3]`: a bucket, one source of the secret,
/// an http(s) endpoint, readable files.
fn check_media_backend(config: &Config) -> Result<(), ConfigError> {
    let Some(s3) = &config.media.s3 else {
        if config.media.backend == super::MediaBackend::S3 {
            return Err(ConfigError::key(
                "media.s3",
                "required when media.backend = \"s3\": add a [media.s3] table with bucket, access_key_id and secret_access_key_file (see docs/media.md)",
            ));
        }
        return Ok(());
    };
    if s3.bucket.trim().is_empty() {
        return Err(ConfigError::key("media.s3.bucket", "must not be empty"));
    }
    match (&s3.secret_access_key, &s3.secret_access_key_file) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::key(
                "media.s3.secret_access_key",
                "set either secret_access_key or secret_access_key_file, not both",
            ));
        }
        (None, None) => {
            return Err(ConfigError::key(
                "media.s3.secret_access_key_file",
                "required (or secret_access_key): the bucket's secret access key",
            ));
        }
        (None, Some(file)) => check_readable("media.s3.secret_access_key_file", file)?,
        (Some(_), None) => {}
    }
    if let Some(endpoint) = &s3.endpoint
        && !(endpoint.starts_with("https://") || endpoint.starts_with("http://"))
    {
        return Err(ConfigError::key(
            "media.s3.endpoint",
            "must be an http:// or https:// URL",
        ));
    }
    if let Some(ca) = &s3.ca_file {
        check_readable("media.s3.ca_file", ca)?;
    }
    Ok(())
}

/// The spec's alphabet for registration tokens (`[A-Za-z0-9._~-]{1,64}`).
/// An absolute `https://` URL, or `http://` to this machine only.
fn check_url(key: &str, text: &str) -> Result<(), ConfigError> {
    let url = url::Url::parse(text).map_err(|err| ConfigError::key(key, format!("{text:?} is not a URL: {err}")))?;
    let host = url.host_str().unwrap_or_default();
    match url.scheme() {
        "https" if !host.is_empty() => Ok(()),
        "http" if super::is_loopback_host(host) => Ok(()),
        _ => Err(ConfigError::key(
            key,
            format!("{text:?} must be an https:// URL (http:// only to localhost or 127.0.0.1)"),
        )),
    }
}

fn valid_registration_token(token: &str) -> bool {
    (1..=64).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'-'))
}

fn check_tls_pair(section: &str, cert: Option<&Path>, key: Option<&Path>) -> Result<(), ConfigError> {
    match (cert, key) {
        (None, None) => Ok(()),
        (Some(_), None) => Err(ConfigError::key(
            format!("{section}.tls_key"),
            "must be set when tls_cert is set",
        )),
        (None, Some(_)) => Err(ConfigError::key(
            format!("{section}.tls_cert"),
            "must be set when tls_key is set",
        )),
        (Some(cert), Some(key)) => {
            check_readable(&format!("{section}.tls_cert"), cert)?;
            check_readable(&format!("{section}.tls_key"), key)
        }
    }
}

fn check_readable(key: &str, path: &Path) -> Result<(), ConfigError> {
    std::fs::read(path)
        .map(drop)
        .map_err(|err| ConfigError::key(key, format!("cannot read {}: {err}", path.display())))
}

/// The directory must exist and be writable, or be creatable under a writable ancestor.
fn check_writable_dir(key: &str, path: &Path) -> Result<(), ConfigError> {
    let mut existing: PathBuf = path.to_path_buf();
    while !existing.exists() {
        match existing.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => existing = parent.to_path_buf(),
            _ => {
                existing = PathBuf::from(".");
                break;
            }
        }
    }
    if !existing.is_dir() {
        return Err(ConfigError::key(
            key,
            format!("{} exists and is not a directory", existing.display()),
        ));
    }
    let probe = existing.join(format!(".accord-write-probe-{}", std::process::id()));
    std::fs::write(&probe, b"")
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|err| ConfigError::key(key, format!("{} is not writable: {err}", existing.display())))
}

impl Config {
    /// Providers need distinct URL-safe ids, an issuer URL (https, or http on loopback only)
    /// and a public base URL to be sent back to.
    fn check_oidc(&self) -> Result<(), ConfigError> {
        let oidc = &self.oidc;
        if oidc.providers.is_empty() && !self.oauth.enabled {
            return Ok(());
        }
        let base = self.client_api.public_baseurl.as_deref().unwrap_or_default();
        check_url("client_api.public_baseurl", base)?;
        let mut seen = std::collections::HashSet::new();
        for (index, provider) in oidc.providers.iter().enumerate() {
            let key = |field: &str| format!("oidc.providers[{index}].{field}");
            let id_ok = (1..=64).contains(&provider.id.len())
                && provider
                    .id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._~-".contains(&b));
            if !id_ok {
                return Err(ConfigError::key(
                    key("id"),
                    "must be 1-64 characters of a-z 0-9 . _ ~ -",
                ));
            }
            if !seen.insert(provider.id.as_str()) {
                return Err(ConfigError::key(
                    key("id"),
                    format!("{:?} is used by two providers", provider.id),
                ));
            }
            check_url(&key("issuer"), &provider.issuer)?;
            if provider.client_id.is_empty() {
                return Err(ConfigError::key(key("client_id"), "is required"));
            }
            if let Some(file) = &provider.client_secret_file {
                check_readable(&key("client_secret_file"), file)?;
            }
            if let Some(file) = &provider.ca_file {
                check_readable(&key("ca_file"), file)?;
            }
        }
        Ok(())
    }

    /// An enabled directory needs somewhere to connect, search and a filter naming the user;
    /// the password file must be readable now rather than at the first login.
    fn check_ldap(&self) -> Result<(), ConfigError> {
        let ldap = &self.ldap;
        if !ldap.enabled {
            return Ok(());
        }
        if !(ldap.uri.starts_with("ldap://") || ldap.uri.starts_with("ldaps://")) {
            return Err(ConfigError::key("ldap.uri", "must start with ldap:// or ldaps://"));
        }
        if ldap.start_tls && ldap.uri.starts_with("ldaps://") {
            return Err(ConfigError::key(
                "ldap.start_tls",
                "ldaps:// is TLS already; use start_tls only with ldap://",
            ));
        }
        if ldap.base_dn.is_empty() {
            return Err(ConfigError::key("ldap.base_dn", "is required when ldap.enabled = true"));
        }
        if !ldap.user_filter.contains("{localpart}") {
            return Err(ConfigError::key(
                "ldap.user_filter",
                "must contain {localpart}, where the user's name goes",
            ));
        }
        if let Some(file) = &ldap.bind_password_file {
            check_readable("ldap.bind_password_file", file)?;
        }
        if let Some(file) = &ldap.ca_file {
            check_readable("ldap.ca_file", file)?;
        }
        Ok(())
    }

    /// Every bucket must let something through: a zero rate or burst would refuse the action
    /// forever, which is a typo rather than a policy (turn registration off with its mode).
    fn check_rate_limits(&self) -> Result<(), ConfigError> {
        for (name, bucket) in self.rate_limits.buckets() {
            if !(bucket.per_second.is_finite() && bucket.per_second > 0.0) {
                return Err(ConfigError::key(
                    format!("rate_limits.{name}.per_second"),
                    "must be a number greater than 0",
                ));
            }
            if bucket.burst_count == 0 {
                return Err(ConfigError::key(
                    format!("rate_limits.{name}.burst_count"),
                    "must be at least 1",
                ));
            }
        }
        let federation = &self.rate_limits.federation;
        for (key, value) in [
            ("window_ms", federation.window_ms),
            ("sleep_limit", u64::from(federation.sleep_limit)),
            ("reject_limit", u64::from(federation.reject_limit)),
            ("concurrent", u64::from(federation.concurrent)),
        ] {
            if value == 0 {
                return Err(ConfigError::key(
                    format!("rate_limits.federation.{key}"),
                    "must be at least 1",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::config::{RateLimitsConfig, RegistrationMode};

    fn with_db(dir: &Path, extra: &str) -> String {
        format!("[database]\npath = {:?}\n{extra}", dir.join("db"))
    }

    #[test]
    fn defaults_are_valid_and_match_the_issue() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::from_toml_str(&with_db(dir.path(), "")).unwrap();
        assert_eq!(config.server_name.as_str(), "localhost");
        assert_eq!(config.client_api.bind.to_string(), "127.0.0.1:8008");
        assert_eq!(config.registration.mode, RegistrationMode::Closed);
        assert!(!config.federation.enabled);
        assert_eq!(Config::default().database.path, PathBuf::from("./accord-data"));
    }

    #[test]
    fn an_s3_backend_needs_a_bucket_table_and_one_secret() {
        let dir = tempfile::tempdir().unwrap();
        let missing = Config::from_toml_str(&with_db(dir.path(), "[media]\nbackend = \"s3\"")).unwrap_err();
        assert_eq!(missing.key.as_deref(), Some("media.s3"), "{missing}");
        let table = "[media]\nbackend = \"s3\"\n[media.s3]\nbucket = \"b\"\naccess_key_id = \"k\"\n";
        let no_secret = Config::from_toml_str(&with_db(dir.path(), table)).unwrap_err();
        assert_eq!(
            no_secret.key.as_deref(),
            Some("media.s3.secret_access_key_file"),
            "{no_secret}"
        );
        let both = format!("{table}secret_access_key = \"s\"\nsecret_access_key_file = \"/x\"\n");
        let both = Config::from_toml_str(&with_db(dir.path(), &both)).unwrap_err();
        assert_eq!(both.key.as_deref(), Some("media.s3.secret_access_key"), "{both}");
        let unreadable = format!("{table}secret_access_key_file = \"/nonexistent/secret\"\n");
        let unreadable = Config::from_toml_str(&with_db(dir.path(), &unreadable)).unwrap_err();
        assert!(
            unreadable.message.contains("cannot read /nonexistent/secret"),
            "{unreadable}"
        );
        let bad_endpoint = format!("{table}secret_access_key = \"s\"\nendpoint = \"minio:9000\"\n");
        let bad_endpoint = Config::from_toml_str(&with_db(dir.path(), &bad_endpoint)).unwrap_err();
        assert_eq!(bad_endpoint.key.as_deref(), Some("media.s3.endpoint"), "{bad_endpoint}");
        let good = format!("{table}secret_access_key = \"s\"\nendpoint = \"http://127.0.0.1:9000\"\n");
        let config = Config::from_toml_str(&with_db(dir.path(), &good)).unwrap();
        let s3 = config.media.s3.unwrap();
        assert_eq!((s3.region.as_str(), s3.prefix.as_str()), ("us-east-1", ""));
        assert!(!format!("{s3:?}").contains("\"s\""), "the secret stays out of logs");
    }

    #[test]
    fn unknown_key_is_named() {
        let err = Config::from_toml_str("[database]\npaht = \"x\"").unwrap_err();
        assert_eq!(err.key.as_deref(), Some("database.paht"), "{err}");
        assert!(
            err.to_string().starts_with("config key `database.paht`: unknown key"),
            "{err}"
        );
    }

    #[test]
    fn wrong_type_is_named() {
        let err = Config::from_toml_str("[federation]\nenabled = \"yes\"").unwrap_err();
        assert_eq!(err.key.as_deref(), Some("federation.enabled"), "{err}");
        assert!(!err.to_string().contains('\n'));
    }

    #[test]
    fn bad_enum_value_is_named() {
        let err = Config::from_toml_str("[registration]\nmode = \"sometimes\"").unwrap_err();
        assert_eq!(err.key.as_deref(), Some("registration.mode"), "{err}");
    }

    #[test]
    fn unreadable_tls_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let toml = with_db(
            dir.path(),
            "[federation]\nenabled = true\ntls_cert = \"/nonexistent/cert.pem\"\ntls_key = \"/nonexistent/key.pem\"",
        );
        let err = Config::from_toml_str(&toml).unwrap_err();
        assert_eq!(err.key.as_deref(), Some("federation.tls_cert"), "{err}");
        assert!(err.message.contains("cannot read /nonexistent/cert.pem"), "{err}");
    }

    #[test]
    fn unwritable_database_path_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("plain-file");
        std::fs::write(&file, b"x").unwrap();
        let toml = format!("[database]\npath = {:?}", file.join("db"));
        let err = Config::from_toml_str(&toml).unwrap_err();
        assert_eq!(err.key.as_deref(), Some("database.path"), "{err}");
    }

    #[test]
    fn the_unlimited_table_parses_back_to_the_unlimited_limits() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::from_toml_str(&with_db(dir.path(), &RateLimitsConfig::unlimited_toml())).unwrap();
        assert_eq!(config.rate_limits, RateLimitsConfig::unlimited());
    }

    #[test]
    fn rate_limits_merge_over_defaults_and_bad_buckets_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let ok = Config::from_toml_str(&with_db(dir.path(), "[rate_limits.message]\nper_second = 2.5")).unwrap();
        assert_eq!(ok.rate_limits.message.per_second, 2.5);
        assert_eq!(
            ok.rate_limits.message.burst_count, 10,
            "unset keys keep Synapse's default"
        );
        for bad in [
            "[rate_limits.login_address]\nper_second = 0.0",
            "[rate_limits.joins_local]\nburst_count = 0",
        ] {
            let err = Config::from_toml_str(&with_db(dir.path(), bad)).unwrap_err();
            assert!(
                err.key.as_deref().is_some_and(|k| k.starts_with("rate_limits.")),
                "{err}"
            );
        }
        let err = Config::from_toml_str(&with_db(dir.path(), "[rate_limits.federation]\nconcurrent = 0")).unwrap_err();
        assert_eq!(err.key.as_deref(), Some("rate_limits.federation.concurrent"), "{err}");
    }

    #[test]
    fn invalid_server_name_is_named() {
        let err = Config::from_toml_str("server_name = \"bad name!\"").unwrap_err();
        assert_eq!(err.key.as_deref(), Some("server_name"), "{err}");
    }

    #[test]
    fn unknown_default_room_version_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = Config::from_toml_str(&with_db(
            dir.path(),
            "[rooms]\ndefault_room_version = \"org.example.v99\"",
        ))
        .unwrap_err();
        assert_eq!(err.key.as_deref(), Some("rooms.default_room_version"), "{err}");
        let ok = Config::from_toml_str(&with_db(dir.path(), "[rooms]\ndefault_room_version = \"10\"")).unwrap();
        assert_eq!(ok.rooms.default_room_version, ruma::RoomVersionId::V10);
    }

    #[test]
    fn toml_syntax_error_is_one_line() {
        let err = Config::from_toml_str("[database\npath=").unwrap_err();
        assert!(!err.to_string().contains('\n'), "{err}");
    }
}
