//! Password checks against an LDAP directory (`[ldap]`): the service account searches for
//! the one entry `user_filter` names, checks `admin_filter` against it, then the user's own
//! password is checked by binding as that entry. Nothing of the password is stored here.
//!
//! The localpart is escaped (RFC 4515) before it goes into a filter, so a name like `*` or
//! `a)(uid=*` matches nothing but itself. An empty password is refused before any bind: LDAP
//! servers treat a bind with one as anonymous, which "succeeds".

use std::{sync::Arc, time::Duration};

use accord_core::config::LdapConfig;
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, Scope, SearchEntry, ldap_escape};

use crate::{Error, Result};

/// LDAP's result code for a wrong password (`invalidCredentials`).
const INVALID_CREDENTIALS: u32 = 49;

/// What the directory says of a name and password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DirectoryAnswer {
    /// No entry (or more than one) matches the user filter: not a directory user, or disabled.
    NotFound,
    /// The entry exists and the password is wrong.
    WrongPassword,
    /// The entry exists and the password is right.
    Verified(DirectoryUser),
}

/// A user the directory vouched for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DirectoryUser {
    /// The entry's DN, for the logs.
    pub dn: String,
    /// Whether the entry matches `admin_filter`.
    pub admin: bool,
    /// The display name attribute's first value.
    pub displayname: Option<String>,
}

/// The configured directory.
#[derive(Clone)]
pub(crate) struct Directory {
    config: LdapConfig,
    bind_password: String,
    tls: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directory")
            .field("uri", &self.config.uri)
            .finish_non_exhaustive()
    }
}

impl Directory {
    /// The directory of `[ldap]`, when enabled.
    pub(crate) fn from_config(config: &LdapConfig) -> Result<Option<Self>> {
        if !config.enabled {
            return Ok(None);
        }
        let bind_password = config
            .bind_password()
            .map_err(|err| Error::Internal(format!("cannot read ldap.bind_password_file: {err}")))?;
        let tls = accord_federation::verified_client_config(config.ca_file.as_deref(), "ldap.ca_file")
            .map_err(|err| Error::Internal(err.to_string()))?;
        Ok(Some(Self {
            config: config.clone(),
            bind_password,
            tls: Arc::new(tls),
        }))
    }

    /// Whether `password` is `localpart`'s in the directory. A directory that can't be
    /// reached is an error (logged with its cause), never a "no such user".
    pub(crate) async fn check(&self, localpart: &str, password: &str) -> Result<DirectoryAnswer> {
        if password.is_empty() {
            return Ok(DirectoryAnswer::WrongPassword);
        }
        self.check_inner(localpart, password).await.map_err(|err| {
            tracing::error!(uri = %self.config.uri, %err, "LDAP directory check failed");
            Error::Internal(format!(
                "the LDAP directory at {} could not be asked: {err}",
                self.config.uri
            ))
        })
    }

    async fn check_inner(&self, localpart: &str, password: &str) -> ldap3::result::Result<DirectoryAnswer> {
        let mut ldap = self.connect().await?;
        let answer = self.search_and_bind(&mut ldap, localpart, password).await;
        // The connection is done with either way; a failed unbind changes nothing.
        let _ = ldap.unbind().await;
        answer
    }

    async fn connect(&self) -> ldap3::result::Result<Ldap> {
        let timeout = self.timeout();
        let settings = LdapConnSettings::new()
            .set_conn_timeout(timeout)
            .set_starttls(self.config.start_tls)
            .set_config(self.tls.clone());
        let (connection, ldap) = LdapConnAsync::with_settings(settings, &self.config.uri).await?;
        tokio::spawn(async move {
            if let Err(err) = connection.drive().await {
                tracing::debug!(%err, "LDAP connection ended");
            }
        });
        Ok(ldap)
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.config.timeout_secs.max(1))
    }

    async fn search_and_bind(
        &self,
        ldap: &mut Ldap,
        localpart: &str,
        password: &str,
    ) -> ldap3::result::Result<DirectoryAnswer> {
        let timeout = self.timeout();
        if !self.config.bind_dn.is_empty() {
            ldap.with_timeout(timeout)
                .simple_bind(&self.config.bind_dn, &self.bind_password)
                .await?
                .success()?;
        }
        let filter = self.config.user_filter.replace("{localpart}", &ldap_escape(localpart));
        let attribute = self.config.displayname_attribute.as_str();
        let (entries, _) = ldap
            .with_timeout(timeout)
            .search(&self.config.base_dn, Scope::Subtree, &filter, vec![attribute])
            .await?
            .success()?;
        let mut entries = entries.into_iter().map(SearchEntry::construct);
        let (Some(entry), None) = (entries.next(), entries.next()) else {
            return Ok(DirectoryAnswer::NotFound);
        };
        let admin = match &self.config.admin_filter {
            Some(admin_filter) => {
                let (matches, _) = ldap
                    .with_timeout(timeout)
                    .search(&entry.dn, Scope::Base, admin_filter, vec!["1.1"])
                    .await?
                    .success()?;
                !matches.is_empty()
            }
            None => false,
        };
        let bound = ldap.with_timeout(timeout).simple_bind(&entry.dn, password).await?;
        if bound.rc == INVALID_CREDENTIALS {
            return Ok(DirectoryAnswer::WrongPassword);
        }
        bound.success()?;
        let displayname = entry.attrs.get(attribute).and_then(|values| values.first()).cloned();
        Ok(DirectoryAnswer::Verified(DirectoryUser {
            dn: entry.dn,
            admin,
            displayname,
        }))
    }
}
