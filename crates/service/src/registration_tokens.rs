//! Registration tokens (spec: `m.login.registration_token`), managed through Synapse's admin
//! API (`/_synapse/admin/v1/registration_tokens`) so the tools admins use for Synapse work.
//!
//! Tokens listed in `registration.tokens` of the config stay valid without limit; tokens made
//! through the API carry a use limit and an expiry. A registration holds one use from the
//! moment its token stage passes; if it is abandoned, the use comes back when its UIA
//! session expires.

use std::sync::Arc;

use accord_core::{Config, config::RegistrationMode, time::now_millis};
use accord_db::{Db, RegistrationToken, TokenUse, WriteBatch};
use rand::Rng;
use serde::Serialize;

use crate::{Error, Result, uiaa::SESSION_LIFETIME_MS};

/// Characters of tokens (spec: the opaque identifier grammar).
const TOKEN_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~-";
/// Longest token (spec).
const MAX_TOKEN_LEN: usize = 64;
/// Length of generated tokens when none is asked (Synapse's default).
const DEFAULT_LENGTH: usize = 16;

/// A token as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    /// The token itself.
    pub token: String,
    /// Accounts it may create; `null` for no limit.
    pub uses_allowed: Option<u64>,
    /// Registrations in progress holding a use.
    pub pending: u64,
    /// Accounts it created.
    pub completed: u64,
    /// When it stops working, ms since the epoch; `null` for never.
    pub expiry_time: Option<u64>,
}

impl TokenInfo {
    /// Whether it could still make an account at `now` (unexpired, uses left).
    pub fn valid_at(&self, now: u64) -> bool {
        self.expiry_time.is_none_or(|expiry| expiry > now)
            && self
                .uses_allowed
                .is_none_or(|allowed| self.pending + self.completed < allowed)
    }
}

/// A new token: every field optional.
#[derive(Debug, Clone, Default)]
pub struct NewToken {
    /// The token; random when absent.
    pub token: Option<String>,
    /// Length of the random token, 1-64 (16 when absent).
    pub length: Option<u64>,
    /// Use limit.
    pub uses_allowed: Option<u64>,
    /// Expiry, ms since the epoch, not in the past.
    pub expiry_time: Option<u64>,
}

/// Changes to a token: `None` leaves a field as it is, `Some(None)` removes the limit.
#[derive(Debug, Clone, Default)]
pub struct TokenChange {
    /// New use limit.
    pub uses_allowed: Option<Option<u64>>,
    /// New expiry.
    pub expiry_time: Option<Option<u64>>,
}

/// The token store and its admin operations.
#[derive(Clone, Debug)]
pub struct RegistrationTokens {
    config: Arc<Config>,
    db: Db,
    /// Held from checking a token's uses to recording a new one, so two registrations can't
    /// both take its last use.
    reserving: Arc<parking_lot::Mutex<()>>,
}

impl RegistrationTokens {
    pub(crate) fn new(config: Arc<Config>, db: Db) -> Self {
        Self {
            config,
            db,
            reserving: Arc::default(),
        }
    }

    /// Every token made through the API; with `valid`, only the (in)valid ones.
    pub fn list(&self, valid: Option<bool>) -> Result<Vec<TokenInfo>> {
        let now = now_millis();
        let mut all = Vec::new();
        for (token, limits) in self.db.registration_tokens()? {
            let info = self.info(token, limits, None)?;
            if valid.is_none_or(|wanted| info.valid_at(now) == wanted) {
                all.push(info);
            }
        }
        Ok(all)
    }

    /// One token; 404 when unknown.
    pub fn get(&self, token: &str) -> Result<TokenInfo> {
        let limits = self
            .db
            .registration_token(token)?
            .ok_or_else(|| Error::not_found(format!("No such registration token: {token}")))?;
        self.info(token.to_owned(), limits, None)
    }

    /// Creates a token; 400 `M_INVALID_PARAM` for a malformed or existing one or a past expiry.
    pub fn create(&self, new: NewToken) -> Result<TokenInfo> {
        check_expiry(new.expiry_time)?;
        let _serial = self.reserving.lock();
        let token = match new.token {
            Some(token) => {
                if !valid_token(&token) {
                    return Err(Error::invalid_param(
                        "`token` must be 1-64 characters of A-Z a-z 0-9 . _ ~ -",
                    ));
                }
                if self.exists(&token)? {
                    return Err(Error::invalid_param(format!("Token already exists: {token}")));
                }
                token
            }
            None => self.random_free_token(new.length)?,
        };
        let limits = RegistrationToken {
            uses_allowed: new.uses_allowed,
            expiry_time: new.expiry_time,
        };
        let mut batch = WriteBatch::new();
        self.db.put_registration_token(&mut batch, &token, &limits);
        self.db.write(batch)?;
        tracing::info!(%token, ?limits, "registration token created");
        self.info(token, limits, None)
    }

    /// Changes a token's limits; 404 when unknown.
    pub fn update(&self, token: &str, change: TokenChange) -> Result<TokenInfo> {
        if let Some(expiry) = change.expiry_time {
            check_expiry(expiry)?;
        }
        let _serial = self.reserving.lock();
        let mut limits = self
            .db
            .registration_token(token)?
            .ok_or_else(|| Error::not_found(format!("No such registration token: {token}")))?;
        if let Some(uses_allowed) = change.uses_allowed {
            limits.uses_allowed = uses_allowed;
        }
        if let Some(expiry_time) = change.expiry_time {
            limits.expiry_time = expiry_time;
        }
        let mut batch = WriteBatch::new();
        self.db.put_registration_token(&mut batch, token, &limits);
        self.db.write(batch)?;
        tracing::info!(%token, ?limits, "registration token changed");
        self.info(token.to_owned(), limits, None)
    }

    /// Deletes a token; 404 when unknown.
    pub fn delete(&self, token: &str) -> Result<()> {
        let _serial = self.reserving.lock();
        if self.db.registration_token(token)?.is_none() {
            return Err(Error::not_found(format!("No such registration token: {token}")));
        }
        let mut batch = WriteBatch::new();
        self.db.delete_registration_token(&mut batch, token)?;
        self.db.write(batch)?;
        tracing::info!(%token, "registration token deleted");
        Ok(())
    }

    /// `GET /register/m.login.registration_token/validity`: 403 when registration doesn't
    /// use tokens (spec), else whether `token` would let an account be made now.
    pub fn check_validity(&self, token: &str) -> Result<bool> {
        let first_admin = self
            .db
            .first_admin_token()?
            .is_some_and(|offered| offered.token == token);
        if self.config.registration.mode != RegistrationMode::Token && !first_admin {
            return Err(Error::forbidden("Registration tokens are not in use on this server"));
        }
        self.usable(token, None)
    }

    /// The token stage of `session`: holds one use of `token` for it if one is left.
    pub(crate) fn reserve(&self, token: &str, session: &str) -> Result<bool> {
        let _serial = self.reserving.lock();
        if !self.usable(token, Some(session))? {
            return Ok(false);
        }
        if self.db.registration_token(token)?.is_some() {
            let mut batch = WriteBatch::new();
            self.db
                .put_registration_token_use(&mut batch, token, session, TokenUse { completed: false });
            self.db.write(batch)?;
        }
        Ok(true)
    }

    fn usable(&self, token: &str, session: Option<&str>) -> Result<bool> {
        if self.config.registration.tokens.iter().any(|listed| listed == token) {
            return Ok(true);
        }
        let Some(limits) = self.db.registration_token(token)? else {
            return Ok(false);
        };
        Ok(self.info(token.to_owned(), limits, session)?.valid_at(now_millis()))
    }

    fn exists(&self, token: &str) -> Result<bool> {
        Ok(self.db.registration_token(token)?.is_some() || self.config.registration.tokens.iter().any(|t| t == token))
    }

    /// The token with its uses counted; `except` leaves one session's own use out (it may
    /// re-submit the token it holds).
    fn info(&self, token: String, limits: RegistrationToken, except: Option<&str>) -> Result<TokenInfo> {
        let now = now_millis();
        let (mut pending, mut completed) = (0, 0);
        for (session, token_use) in self.db.registration_token_uses(&token)? {
            if token_use.completed {
                completed += 1;
            } else if Some(session.as_str()) != except && self.session_alive(&session, now)? {
                pending += 1;
            }
        }
        Ok(TokenInfo {
            token,
            uses_allowed: limits.uses_allowed,
            pending,
            completed,
            expiry_time: limits.expiry_time,
        })
    }

    fn session_alive(&self, session: &str, now: u64) -> Result<bool> {
        Ok(self
            .db
            .get_uiaa_session(session)?
            .is_some_and(|record| now.saturating_sub(record.created_ts) <= SESSION_LIFETIME_MS))
    }

    fn random_free_token(&self, length: Option<u64>) -> Result<String> {
        let length = match length {
            None => DEFAULT_LENGTH,
            Some(n @ 1..=64) => usize::try_from(n).unwrap_or(DEFAULT_LENGTH),
            Some(_) => return Err(Error::invalid_param("`length` must be an integer from 1 to 64")),
        };
        let mut rng = rand::thread_rng();
        for _ in 0..10 {
            let token: String = (0..length)
                .filter_map(|_| TOKEN_CHARS.get(rng.gen_range(0..TOKEN_CHARS.len())))
                .map(|&b| char::from(b))
                .collect();
            if !self.exists(&token)? {
                return Ok(token);
            }
        }
        Err(Error::Internal(
            "could not find a free random registration token".to_owned(),
        ))
    }
}

fn valid_token(token: &str) -> bool {
    !token.is_empty() && token.len() <= MAX_TOKEN_LEN && token.bytes().all(|b| TOKEN_CHARS.contains(&b))
}

fn check_expiry(expiry: Option<u64>) -> Result<()> {
    if expiry.is_some_and(|at| at < now_millis()) {
        return Err(Error::invalid_param("`expiry_time` must not be in the past"));
    }
    Ok(())
}
