//! `[oidc]`: logging in through the organization's OpenID Connect identity providers
//! (Keycloak, Entra ID, ADFS, Okta, ...). Several may be configured; clients list them from
//! `GET /login` (`m.login.sso`) and users pick one.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// `[oidc]`
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// The identity providers (`[[oidc.providers]]`).
    pub providers: Vec<OidcProviderConfig>,
}

/// `[oauth]`: Accord as the OAuth 2.0 authorization server of the spec's "OAuth 2.0 API"
/// (Element X and other next-generation clients log in this way).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthConfig {
    /// Whether the OAuth 2.0 API is offered (needs `client_api.public_baseurl`).
    pub enabled: bool,
    /// Whether password login is offered on Accord's login page (with `[ldap]`, the
    /// directory's passwords); off leaves only the identity providers.
    pub password_login: bool,
}

impl Default for OAuthConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            password_login: true,
        }
    }
}

/// One `[[oidc.providers]]` entry.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcProviderConfig {
    /// Used in URLs and in `m.login.sso`'s `identity_providers`: 1-64 of `a-z 0-9 . _ ~ -`.
    pub id: String,
    /// What users see on the login buttons.
    pub name: String,
    /// The issuer; its `/.well-known/openid-configuration` is read at the first login.
    pub issuer: String,
    /// Accord's client id at the provider.
    pub client_id: String,
    /// The client secret, in the config (prefer `client_secret_file`); none for a public client.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// A file holding the client secret (trailing newline ignored).
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    /// Scopes asked for; `openid` is always among them.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// The claim that becomes the Matrix localpart (lower-cased; characters Matrix ids don't
    /// allow are replaced). For `email`, the part before `@`.
    #[serde(default = "default_localpart_claim")]
    pub localpart_claim: String,
    /// The claim that becomes a new account's display name.
    #[serde(default = "default_displayname_claim")]
    pub displayname_claim: String,
    /// PEM file of an internal CA that signed the provider's certificate.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Whether a first login whose localpart is an existing account that no provider login
    /// is linked to takes over that account (for moving existing users to SSO). Off: the new
    /// user gets the localpart with a number appended instead.
    #[serde(default)]
    pub allow_existing_users: bool,
}

impl std::fmt::Debug for OidcProviderConfig {
    /// Everything but the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcProviderConfig")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret_file", &self.client_secret_file)
            .field("scopes", &self.scopes)
            .field("localpart_claim", &self.localpart_claim)
            .field("displayname_claim", &self.displayname_claim)
            .field("ca_file", &self.ca_file)
            .field("allow_existing_users", &self.allow_existing_users)
            .finish_non_exhaustive()
    }
}

impl OidcProviderConfig {
    /// The client secret: the file's (trimmed), else the inline one, else none.
    pub fn client_secret(&self) -> std::io::Result<Option<String>> {
        match &self.client_secret_file {
            Some(file) => Ok(Some(
                std::fs::read_to_string(file)?.trim_end_matches(['\n', '\r']).to_owned(),
            )),
            None => Ok(self.client_secret.clone()),
        }
    }
}

fn default_scopes() -> Vec<String> {
    vec!["openid".to_owned(), "profile".to_owned()]
}

fn default_localpart_claim() -> String {
    "preferred_username".to_owned()
}

fn default_displayname_claim() -> String {
    "name".to_owned()
}

/// Whether `host` is this machine (plain `http://` is allowed only there, for tests and a
/// provider on the same host).
pub fn is_loopback_host(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}
