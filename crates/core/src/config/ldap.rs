//! `[ldap]`: password login against the organization's directory (OpenLDAP, Active
//! Directory, FreeIPA): search for the user with a service account, then bind as the user.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// `[ldap]`
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LdapConfig {
    /// Whether logins with a password are checked against the directory.
    pub enabled: bool,
    /// `ldaps://host[:port]` (TLS from the start) or `ldap://host[:port]` (plain, or TLS
    /// through StartTLS with `start_tls`).
    pub uri: String,
    /// Upgrade an `ldap://` connection with StartTLS before anything is sent.
    pub start_tls: bool,
    /// Extra CA certificates (PEM) trusted for the directory's certificate, besides the
    /// system roots: an internal CA.
    pub ca_file: Option<PathBuf>,
    /// The service account that searches for users; empty for an anonymous search.
    pub bind_dn: String,
    /// Its password, in the config (prefer `bind_password_file`).
    pub bind_password: Option<String>,
    /// A file holding its password (trailing newline ignored).
    pub bind_password_file: Option<PathBuf>,
    /// Where users are searched, with the whole subtree.
    pub base_dn: String,
    /// The filter that finds one user; `{localpart}` is replaced by the escaped localpart.
    /// Make it exclude disabled accounts, so they can no longer log in.
    pub user_filter: String,
    /// A filter the user's own entry must match to be a server admin (checked at each
    /// login, so removing someone from the admin group takes effect at their next login).
    pub admin_filter: Option<String>,
    /// The attribute holding the display name given to new accounts.
    pub displayname_attribute: String,
    /// Whether local accounts the directory doesn't know (the admin made with `accord user
    /// create`) may still log in with their own password.
    pub local_fallback: bool,
    /// Time limit of each directory operation, seconds.
    pub timeout_secs: u64,
}

impl std::fmt::Debug for LdapConfig {
    /// Everything but the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LdapConfig")
            .field("enabled", &self.enabled)
            .field("uri", &self.uri)
            .field("start_tls", &self.start_tls)
            .field("ca_file", &self.ca_file)
            .field("bind_dn", &self.bind_dn)
            .field("bind_password_file", &self.bind_password_file)
            .field("base_dn", &self.base_dn)
            .field("user_filter", &self.user_filter)
            .field("admin_filter", &self.admin_filter)
            .field("displayname_attribute", &self.displayname_attribute)
            .field("local_fallback", &self.local_fallback)
            .field("timeout_secs", &self.timeout_secs)
            .finish_non_exhaustive()
    }
}

impl LdapConfig {
    /// Defaults that suit OpenLDAP's `inetOrgPerson` entries.
    pub fn defaults() -> Self {
        Self {
            enabled: false,
            uri: String::new(),
            start_tls: false,
            ca_file: None,
            bind_dn: String::new(),
            bind_password: None,
            bind_password_file: None,
            base_dn: String::new(),
            user_filter: "(&(objectClass=inetOrgPerson)(uid={localpart}))".to_owned(),
            admin_filter: None,
            displayname_attribute: "cn".to_owned(),
            local_fallback: true,
            timeout_secs: 10,
        }
    }

    /// The service account's password: the file's (trimmed), else the inline one, else none.
    pub fn bind_password(&self) -> std::io::Result<String> {
        match &self.bind_password_file {
            Some(file) => Ok(std::fs::read_to_string(file)?.trim_end_matches(['\n', '\r']).to_owned()),
            None => Ok(self.bind_password.clone().unwrap_or_default()),
        }
    }
}
