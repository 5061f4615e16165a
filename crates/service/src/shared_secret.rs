//! Synapse-compatible shared-secret registration (`/_synapse/admin/v1/register`), which
//! provisioning tools and test suites use to create accounts without UIA.
//!
//! The client fetches a nonce, then posts the account with an HMAC-SHA1 (keyed by
//! `registration.shared_secret`) over `nonce \0 username \0 password \0 admin|notadmin`.
//! Nonces are single-use and expire after a minute.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use accord_core::Config;
use hmac::{Hmac, Mac};
use parking_lot::Mutex;
use sha1::Sha1;

use crate::{
    Error, Result,
    accounts::{Accounts, NewAccount, Registered},
    tokens::random_alphanumeric,
};

const NONCE_LIFETIME: Duration = Duration::from_secs(60);

/// What the admin tool posts.
#[derive(Debug, Clone)]
pub struct SharedSecretRequest {
    /// A nonce from [`SharedSecretRegistration::new_nonce`].
    pub nonce: String,
    /// Localpart of the new account.
    pub username: String,
    /// Display name.
    pub displayname: Option<String>,
    /// Password.
    pub password: String,
    /// Make the account an administrator.
    pub admin: bool,
    /// Hex HMAC-SHA1 over the fields.
    pub mac: String,
}

/// Nonce issuing and MAC checking.
#[derive(Clone, Debug)]
pub struct SharedSecretRegistration {
    config: Arc<Config>,
    accounts: Accounts,
    nonces: Arc<Mutex<HashMap<String, Instant>>>,
}

impl SharedSecretRegistration {
    pub(crate) fn new(config: Arc<Config>, accounts: Accounts) -> Self {
        Self {
            config,
            accounts,
            nonces: Arc::default(),
        }
    }

    fn secret(&self) -> Result<&str> {
        self.config.registration.shared_secret.as_deref().ok_or_else(|| {
            Error::not_found("Shared-secret registration is disabled (set registration.shared_secret to enable it)")
        })
    }

    /// Issues a single-use nonce.
    pub fn new_nonce(&self) -> Result<String> {
        self.secret()?;
        let nonce = random_alphanumeric(32);
        let mut nonces = self.nonces.lock();
        nonces.retain(|_, issued| issued.elapsed() < NONCE_LIFETIME);
        nonces.insert(nonce.clone(), Instant::now());
        Ok(nonce)
    }

    /// Checks nonce and MAC, then creates the account and logs it in.
    pub async fn register(&self, request: SharedSecretRequest) -> Result<Registered> {
        let secret = self.secret()?;
        let issued = self.nonces.lock().remove(&request.nonce);
        if issued.is_none_or(|at| at.elapsed() >= NONCE_LIFETIME) {
            return Err(Error::invalid_param("Unrecognised or expired nonce; fetch a new one"));
        }
        let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes())
            .map_err(|err| Error::Internal(format!("bad HMAC key: {err}")))?;
        mac.update(request.nonce.as_bytes());
        mac.update(b"\0");
        mac.update(request.username.as_bytes());
        mac.update(b"\0");
        mac.update(request.password.as_bytes());
        mac.update(b"\0");
        mac.update(if request.admin { b"admin" } else { b"notadmin" });
        let given = crate::tokens::unhex(&request.mac.to_ascii_lowercase())
            .ok_or_else(|| Error::forbidden("HMAC incorrect"))?;
        mac.verify_slice(&given)
            .map_err(|_| Error::forbidden("HMAC incorrect"))?;
        self.accounts
            .create(
                NewAccount {
                    // The MAC covers the name as sent; the account gets it lower-cased, as
                    // Synapse does (tools like synapse-admin send names as typed).
                    username: Some(request.username.to_lowercase()),
                    password: Some(request.password),
                    admin: request.admin,
                    displayname: request.displayname,
                    ..NewAccount::default()
                },
                None,
            )
            .await
    }
}
