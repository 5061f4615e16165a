//! Accord's configuration: one TOML file whose every key can be overridden by an environment
//! variable `ACCORD_<SECTION>__<KEY>` (e.g. `ACCORD_DATABASE__PATH`).
//!
//! `conf/accord.toml` documents every key with its default; the structs here are the source of
//! those defaults. Loading fails with one line naming the key and the problem.

mod ldap;
mod load;
mod metrics;
mod oidc;
mod password_policy;
mod rate_limits;
mod retention;
mod telemetry;
mod text;
mod validate;

use std::{net::SocketAddr, path::PathBuf};

use ruma::OwnedServerName;
use serde::{Deserialize, Serialize};

pub use ldap::LdapConfig;
pub use load::ConfigError;
pub use metrics::MetricsConfig;
pub use oidc::{OAuthConfig, OidcConfig, OidcProviderConfig, is_loopback_host};
pub use password_policy::PasswordPolicyConfig;
pub use rate_limits::{BucketConfig, FederationLimitConfig, RateLimitsConfig};
pub use retention::RetentionConfig;
pub use telemetry::TelemetryConfig;

/// The whole configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The server name in user ids (`@alice:<server_name>`) and room aliases. Never changes.
    pub server_name: OwnedServerName,
    /// Where and how data is stored.
    pub database: DatabaseConfig,
    /// The client-server API listener.
    pub client_api: ClientApiConfig,
    /// The server-server API listener.
    pub federation: FederationConfig,
    /// Who may create accounts, and how.
    pub registration: RegistrationConfig,
    /// Logins and session lifetimes.
    pub login: LoginConfig,
    /// What new passwords must look like.
    pub password_policy: PasswordPolicyConfig,
    /// Password login against an LDAP directory.
    pub ldap: LdapConfig,
    /// Login through OpenID Connect identity providers.
    pub oidc: OidcConfig,
    /// The OAuth 2.0 API (Accord as the authorization server).
    pub oauth: OAuthConfig,
    /// Answers for `/.well-known/matrix/{client,server}`.
    pub well_known: WellKnownConfig,
    /// Room defaults.
    pub rooms: RoomsConfig,
    /// What /sync tells of other users' presence.
    pub presence: PresenceConfig,
    /// Uploads, downloads, thumbnails and remote media.
    pub media: MediaConfig,
    /// Who `/user_directory/search` finds.
    pub user_directory: UserDirectoryConfig,
    /// Message search (`POST /search`).
    pub search: SearchConfig,
    /// Push notifications through push gateways.
    pub push: PushConfig,
    /// Server notices: messages from the server's admins to users.
    pub server_notices: ServerNoticesConfig,
    /// Events scheduled to be sent later (MSC4140).
    pub delayed_events: DelayedEventsConfig,
    /// Application services (bridges and bots) and their registration files.
    pub appservice: AppserviceConfig,
    /// How fast each kind of action may be repeated.
    pub rate_limits: RateLimitsConfig,
    /// Prometheus metrics, health and readiness.
    pub metrics: MetricsConfig,
    /// OpenTelemetry traces.
    pub telemetry: TelemetryConfig,
    /// How long message content is kept.
    pub retention: RetentionConfig,
    /// Log output.
    pub logging: LoggingConfig,
}

/// `[database]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// Directory of the RocksDB database; created if missing.
    pub path: PathBuf,
}

/// `[client_api]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientApiConfig {
    /// Address the client API listens on.
    pub bind: SocketAddr,
    /// PEM certificate chain; with `tls_key`, the client listener serves HTTPS.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// Largest request body accepted, in bytes; larger ones get 413 `M_TOO_LARGE`.
    pub max_request_bytes: usize,
    /// The address browsers and clients reach this API at (`https://matrix.example.org`), for
    /// the links Accord hands out: single sign-on callbacks and the OAuth 2.0 endpoints.
    #[serde(default)]
    pub public_baseurl: Option<String>,
    /// Whether a reverse proxy in front sets `X-Forwarded-For`: the client's address (for
    /// rate limits by address and the devices list) is then the last one it appended. Only
    /// with a proxy that always sets it, or clients could claim any address.
    #[serde(default)]
    pub x_forwarded: bool,
}

/// `[federation]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FederationConfig {
    /// Whether the server-server API listener runs.
    pub enabled: bool,
    /// Address the federation API listens on (TLS).
    pub bind: SocketAddr,
    /// PEM certificate chain for the federation listener; required when enabled.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for `tls_cert`; required when enabled.
    pub tls_key: Option<PathBuf>,
    /// Extra CA certificates (PEM) trusted for outbound federation, besides the system roots
    /// (a private PKI, or a test CA).
    pub tls_ca_file: Option<PathBuf>,
    /// Glob patterns of the only servers to federate with; empty allows every server.
    pub allowed_servers: Vec<String>,
    /// Glob patterns of servers never to federate with (wins over `allowed_servers`).
    pub denied_servers: Vec<String>,
    /// Notaries asked for a server's signing keys when the server itself can't be reached.
    pub trusted_key_servers: Vec<ruma::OwnedServerName>,
    /// Whether other servers see the display names of local users' devices (key queries,
    /// device lists). Off by default, as on Synapse: names like "Alice's work laptop" say more
    /// than a partner needs.
    #[serde(default)]
    pub share_device_names: bool,
}

/// How new accounts may be created through `/register`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RegistrationMode {
    /// Nobody registers through the API (admins use the CLI or shared-secret registration).
    Closed,
    /// Anyone may register (completing `m.login.dummy`).
    Open,
    /// Registration needs one of `registration.tokens` (`m.login.registration_token`).
    Token,
}

/// `[registration]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrationConfig {
    /// `closed`, `open` or `token`.
    pub mode: RegistrationMode,
    /// Enables Synapse-compatible `/_synapse/admin/v1/register` with this HMAC secret.
    #[serde(default, deserialize_with = "text::optional")]
    pub shared_secret: Option<String>,
    /// Registration tokens accepted in `token` mode.
    #[serde(deserialize_with = "text::list")]
    pub tokens: Vec<String>,
    /// While no account is an admin, offer a one-time registration token (printed in the log
    /// at start, valid 24 hours) whose account becomes the first admin, whatever the `mode`.
    #[serde(default = "offer_first_admin_token")]
    pub first_admin_token: bool,
}

fn offer_first_admin_token() -> bool {
    true
}

/// `[login]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginConfig {
    /// Lifetime of access tokens issued to clients that asked for a refresh token, in seconds.
    pub refreshable_access_token_lifetime_secs: u64,
}

/// `[well_known]`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WellKnownConfig {
    /// Base URL clients should use (`m.homeserver.base_url`); unset means 404.
    pub client: Option<String>,
    /// `host[:port]` other servers should use (`m.server`); unset means 404.
    pub server: Option<String>,
}

/// `[rooms]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoomsConfig {
    /// The room version of new rooms whose creator does not ask for one.
    #[serde(deserialize_with = "text::room_version")]
    pub default_room_version: ruma::RoomVersionId,
}

/// `[presence]`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresenceConfig {
    /// Whether an initial sync lists room-mates who never set a presence (as `offline`). Off by
    /// default, as on Synapse (`include_offline_users_on_sync`): in large rooms they are most
    /// members and clients show them offline anyway.
    pub include_offline_users_on_sync: bool,
}

/// `[user_directory]`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserDirectoryConfig {
    /// Every local account is found, not only the users sharing a room with the searcher
    /// and the members of published rooms. Off by default, as on Synapse.
    pub search_all_users: bool,
}

/// `[search]`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchConfig {
    /// Directory of the full-text index of messages; unset: beside the database,
    /// `<database.path>-search`. Deleting it makes the server rebuild it at the next start.
    pub path: Option<PathBuf>,
}

/// `[appservice]`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppserviceConfig {
    /// Registration files in Synapse's YAML format, or directories whose `*.yaml` files are
    /// each one. Read at start and again on SIGHUP.
    pub registration_files: Vec<PathBuf>,
}

/// `[delayed_events]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DelayedEventsConfig {
    /// The longest delay a client may ask for, seconds; 0 turns delayed events off.
    pub max_delay_secs: u64,
    /// Most delayed events one user may have waiting.
    pub max_pending_per_user: usize,
}

impl Default for DelayedEventsConfig {
    fn default() -> Self {
        Self {
            max_delay_secs: 24 * 60 * 60,
            max_pending_per_user: 100,
        }
    }
}

/// `[server_notices]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerNoticesConfig {
    /// Admins may send notices (the Synapse admin API `send_server_notice`).
    pub enabled: bool,
    /// Localpart of the user the notices come from (it needs no account).
    pub system_mxid_localpart: String,
    /// That user's display name.
    pub system_mxid_display_name: String,
    /// The name of each user's notices room.
    pub room_name: String,
}

impl Default for ServerNoticesConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            system_mxid_localpart: "_server".to_owned(),
            system_mxid_display_name: "Server Alert".to_owned(),
            room_name: "Server Alert".to_owned(),
        }
    }
}

/// `[push]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushConfig {
    /// Send the event's content to push gateways (off: only ids, sender and room name, for
    /// deployments whose gateway is run by someone else).
    pub include_content: bool,
    /// Addresses push gateways may not be reached at (loopback, private and other special
    /// ranges by default): a pusher URL is chosen by a user.
    pub ip_range_denylist: Vec<String>,
    /// Addresses push gateways may be reached at even inside a denied range (an in-house
    /// gateway on the internal network).
    pub ip_range_allowlist: Vec<String>,
    /// Time limit of one request to a push gateway, seconds.
    pub timeout_secs: u64,
}

impl Default for PushConfig {
    fn default() -> Self {
        Self {
            include_content: true,
            ip_range_denylist: special_ip_ranges(),
            ip_range_allowlist: Vec::new(),
            timeout_secs: 10,
        }
    }
}

/// Loopback, private, link-local, documentation and the other special IP ranges: what
/// outbound requests to user-chosen addresses may not reach by default.
pub fn special_ip_ranges() -> Vec<String> {
    [
        "127.0.0.0/8",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "192.0.0.0/24",
        "169.254.0.0/16",
        "192.88.99.0/24",
        "198.18.0.0/15",
        "192.0.2.0/24",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "0.0.0.0/8",
        "::1/128",
        "::/128",
        "fe80::/10",
        "fc00::/7",
        "2001:db8::/32",
        "ff00::/8",
        "fec0::/10",
        "64:ff9b::/96",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// `[media]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaConfig {
    /// Directory of uploaded files, thumbnails and cached remote files; unset: beside the
    /// database, `<database.path>-media`.
    pub path: Option<PathBuf>,
    /// Where files are stored: `local` (the directory `path`) or `s3` (the bucket of
    /// `[media.s3]`).
    pub backend: MediaBackend,
    /// The bucket, when `backend = "s3"`.
    pub s3: Option<S3Config>,
    /// Largest upload (and largest remote file fetched), bytes; larger get 413 `M_TOO_LARGE`.
    pub max_upload_size: u64,
    /// Images with more pixels than this are never decoded for thumbnails (decompression bombs).
    pub max_image_pixels: u64,
    /// The thumbnail sizes served: a request gets the smallest at least as large.
    pub thumbnail_sizes: Vec<ThumbnailSizeConfig>,
    /// Media stored while this is on is served only on the authenticated endpoints
    /// (`/_matrix/client/v1/media/*`, spec v1.11's freeze); the legacy `/_matrix/media/v3/*`
    /// downloads then serve only media stored before. On by default, as on Synapse.
    pub enable_authenticated_media: bool,
    /// An id made by `POST /_matrix/media/v1/create` is forgotten if no file arrives within
    /// this many seconds.
    pub unused_expiration_secs: u64,
    /// Most ids a user may hold from `/create` without a file yet; more get 429.
    pub max_pending_uploads: u32,
    /// Most bytes of uploads a user may hold; 0 for no limit.
    pub user_quota_bytes: u64,
    /// URL previews (`/preview_url`): pages users link to are fetched from the web. Off by
    /// default (an air-gapped server has no web to fetch, and fetching is a way in).
    pub url_preview_enabled: bool,
    /// Addresses previews never reach (CIDR ranges): loopback, private, link-local and other
    /// special ranges by default.
    pub url_preview_ip_range_denylist: Vec<String>,
    /// Addresses previews may reach even inside a denied range.
    pub url_preview_ip_range_allowlist: Vec<String>,
    /// Largest page or image fetched for a preview, bytes.
    pub url_preview_max_bytes: u64,
    /// Time limit of each fetch for a preview, seconds.
    pub url_preview_timeout_secs: u64,
}

/// Where media files are stored (`media.backend`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaBackend {
    /// Files in the directory `media.path`.
    #[default]
    Local,
    /// Objects in an S3-compatible bucket (`[media.s3]`).
    S3,
}

/// `[media.s3]`: an S3-compatible bucket for media files.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    /// Base URL of the service (MinIO, Ceph RGW, Garage, ...); unset for AWS itself.
    pub endpoint: Option<String>,
    /// The bucket; it must exist.
    pub bucket: String,
    /// The region requests are signed for.
    #[serde(default = "default_s3_region")]
    pub region: String,
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key, in the file itself (or `secret_access_key_file`).
    pub secret_access_key: Option<String>,
    /// A file holding the secret access key (trailing whitespace ignored).
    pub secret_access_key_file: Option<PathBuf>,
    /// Key prefix inside the bucket, so several servers can share one.
    #[serde(default)]
    pub prefix: String,
    /// PEM certificates trusted for the endpoint beside the system's (a private CA).
    pub ca_file: Option<PathBuf>,
}

fn default_s3_region() -> String {
    "us-east-1".to_owned()
}

impl std::fmt::Debug for S3Config {
    /// Everything but the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key_file", &self.secret_access_key_file)
            .field("prefix", &self.prefix)
            .field("ca_file", &self.ca_file)
            .finish_non_exhaustive()
    }
}

/// One thumbnail size of `[[media.thumbnail_sizes]]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThumbnailSizeConfig {
    /// Box width, pixels.
    pub width: u32,
    /// Box height, pixels.
    pub height: u32,
    /// `scale` (fit inside) or `crop` (fill exactly).
    pub method: ThumbnailMethod,
}

/// How a thumbnail fits its box.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ThumbnailMethod {
    /// Fit inside, keeping the aspect ratio.
    Scale,
    /// Fill exactly, cutting the overflow.
    Crop,
}

impl Default for MediaConfig {
    fn default() -> Self {
        let size = |width, height, method| ThumbnailSizeConfig { width, height, method };
        Self {
            path: None,
            backend: MediaBackend::Local,
            s3: None,
            max_upload_size: 50 * 1024 * 1024,
            max_image_pixels: 32_000_000,
            // Synapse's default list, so clients asking for its sizes get exactly them.
            thumbnail_sizes: vec![
                size(32, 32, ThumbnailMethod::Crop),
                size(96, 96, ThumbnailMethod::Crop),
                size(320, 240, ThumbnailMethod::Scale),
                size(640, 480, ThumbnailMethod::Scale),
                size(800, 600, ThumbnailMethod::Scale),
            ],
            enable_authenticated_media: true,
            unused_expiration_secs: 24 * 60 * 60,
            max_pending_uploads: 5,
            user_quota_bytes: 0,
            url_preview_enabled: false,
            url_preview_ip_range_denylist: special_ip_ranges(),
            url_preview_ip_range_allowlist: Vec::new(),
            url_preview_max_bytes: 10 * 1024 * 1024,
            url_preview_timeout_secs: 10,
        }
    }
}

impl Config {
    /// The search index directory: `search.path`, or `<database.path>-search`.
    pub fn search_path(&self) -> PathBuf {
        self.search
            .path
            .clone()
            .unwrap_or_else(|| self.beside_database("search"))
    }

    /// `<database.path>-<suffix>` beside the database (inside it for a path like `.`).
    fn beside_database(&self, suffix: &str) -> PathBuf {
        match self.database.path.file_name() {
            Some(name) => {
                let mut name = name.to_os_string();
                name.push(format!("-{suffix}"));
                self.database.path.with_file_name(name)
            }
            None => self.database.path.join(suffix),
        }
    }

    /// The media directory: `media.path`, or `<database.path>-media` beside the database.
    pub fn media_path(&self) -> PathBuf {
        self.media.path.clone().unwrap_or_else(|| self.beside_database("media"))
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `[logging]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoggingConfig {
    /// `tracing` env-filter directives; `RUST_LOG`, when set, wins.
    pub filter: String,
    /// `text` or `json`.
    pub format: LogFormat,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            server_name: ruma::server_name!("localhost").to_owned(),
            database: DatabaseConfig {
                path: PathBuf::from("./accord-data"),
            },
            client_api: ClientApiConfig {
                bind: SocketAddr::from(([127, 0, 0, 1], 8008)),
                tls_cert: None,
                tls_key: None,
                max_request_bytes: 50 * 1024 * 1024,
                public_baseurl: None,
                x_forwarded: false,
            },
            federation: FederationConfig {
                enabled: false,
                bind: SocketAddr::from(([127, 0, 0, 1], 8448)),
                tls_cert: None,
                tls_key: None,
                tls_ca_file: None,
                allowed_servers: Vec::new(),
                denied_servers: Vec::new(),
                trusted_key_servers: Vec::new(),
                share_device_names: false,
            },
            registration: RegistrationConfig {
                mode: RegistrationMode::Closed,
                shared_secret: None,
                tokens: Vec::new(),
                first_admin_token: true,
            },
            login: LoginConfig {
                refreshable_access_token_lifetime_secs: 300,
            },
            password_policy: PasswordPolicyConfig::default(),
            ldap: LdapConfig::defaults(),
            oidc: OidcConfig::default(),
            oauth: OAuthConfig::default(),
            well_known: WellKnownConfig::default(),
            rooms: RoomsConfig {
                default_room_version: ruma::RoomVersionId::V11,
            },
            presence: PresenceConfig::default(),
            media: MediaConfig::default(),
            user_directory: UserDirectoryConfig::default(),
            search: SearchConfig::default(),
            push: PushConfig::default(),
            server_notices: ServerNoticesConfig::default(),
            delayed_events: DelayedEventsConfig::default(),
            appservice: AppserviceConfig::default(),
            rate_limits: RateLimitsConfig::default(),
            metrics: MetricsConfig::default(),
            telemetry: TelemetryConfig::default(),
            retention: RetentionConfig::default(),
            logging: LoggingConfig {
                filter: "info".to_owned(),
                format: LogFormat::Text,
            },
        }
    }
}
