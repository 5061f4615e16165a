//! Accord as the OAuth 2.0 authorization server of the spec's "OAuth 2.0 API" (spec v1.15,
//! `[oauth] enabled`): dynamic client registration, the authorization code grant with PKCE
//! S256, refresh, revocation, and the device authorization grant. People log in on Accord's
//! own pages (password or LDAP, or an upstream identity provider) and approve the client;
//! the tokens a grant ends in are ordinary device tokens, so everything else in Accord sees
//! an OAuth session as any other.

mod account;
mod authorize;
mod device;
mod registration;
mod scope;
mod token;

use std::sync::Arc;

use accord_core::Config;
use accord_db::Db;

pub use account::ACCOUNT_COOKIE;
pub use authorize::{AuthorizeParams, AuthorizeStart, ClientLabel};
pub use token::TokenAnswer;

use crate::sessions::Sessions;

/// Where Accord's authorization server lives, under the client API's public address.
pub const BASE_PATH: &str = "/_accord/oauth2";
/// The cookie that ties an authorization to the browser that started it.
pub const BROWSER_COOKIE: &str = "accord_oauth_session";

/// An OAuth error as RFC 6749 shapes it (`{"error", "error_description"}`), with its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    /// HTTP status.
    pub status: u16,
    /// The RFC's error code (`invalid_request`, `invalid_grant`, ...).
    pub error: &'static str,
    /// What was wrong, for the developer.
    pub description: String,
}

impl OAuthError {
    /// A 400 with `error`.
    pub(crate) fn bad(error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status: 400,
            error,
            description: description.into(),
        }
    }

    /// A 500 `server_error`; the cause is logged, not shown.
    pub(crate) fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "OAuth request failed");
        Self {
            status: 500,
            error: "server_error",
            description: "internal server error".to_owned(),
        }
    }
}

/// The authorization server.
#[derive(Clone, Debug)]
pub struct OAuth {
    config: Arc<Config>,
    db: Db,
    sessions: Sessions,
    sweep: crate::sweep::SweepClock,
}

impl OAuth {
    pub(crate) fn new(config: Arc<Config>, db: Db, sessions: Sessions) -> Self {
        Self {
            config,
            db,
            sessions,
            sweep: crate::sweep::SweepClock::default(),
        }
    }

    /// Whether the OAuth 2.0 API is offered.
    pub fn enabled(&self) -> bool {
        self.config.oauth.enabled && self.config.client_api.public_baseurl.is_some()
    }

    /// The public address of the client API, without a trailing slash.
    pub fn base_url(&self) -> String {
        self.config
            .client_api
            .public_baseurl
            .as_deref()
            .unwrap_or_default()
            .trim_end_matches('/')
            .to_owned()
    }

    /// The issuer (the public address, with the trailing slash issuers conventionally have).
    pub fn issuer(&self) -> String {
        format!("{}/", self.base_url())
    }

    /// The full URL of one of the server's endpoints (`register`, `token`, ...).
    pub fn endpoint(&self, name: &str) -> String {
        format!("{}{BASE_PATH}/{name}", self.base_url())
    }
}
