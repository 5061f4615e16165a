//! Single sign-on through the organization's OpenID Connect providers (`[[oidc.providers]]`),
//! the way Element Web and older clients log in (`m.login.sso`):
//!
//! 1. the client sends the browser to `/login/sso/redirect/{idp}?redirectUrl=...`; Accord
//!    records the attempt (state, nonce, PKCE verifier, a cookie for this browser) and sends
//!    the browser on to the provider;
//! 2. the provider sends it back to `/_synapse/client/oidc/callback?code&state`; the attempt
//!    is used up (a replayed state finds nothing), the code exchanged, the ID token checked,
//!    and the provider's user mapped to an account, made at the first login;
//! 3. the browser goes to `redirectUrl?loginToken=...`, and the client trades the token
//!    (single use, two minutes) for an access token with `m.login.token`.

mod link;
mod mapping;
mod provider;

use std::{collections::HashMap, sync::Arc};

use accord_core::{Config, time::now_millis};
use accord_db::{Db, LoginTokenRecord, SsoAttempt, WriteBatch};
use ruma::OwnedUserId;
use serde_json::{Map, Value};

pub use link::SsoLogin;
use provider::Provider;

use crate::{
    Error, Result,
    tokens::{generate_secret, hash_token, hex},
};

/// Where providers send users back.
pub const CALLBACK_PATH: &str = "/_synapse/client/oidc/callback";
/// The cookie that ties a login to the browser that started it.
pub const BROWSER_COOKIE: &str = "accord_sso_session";
/// How long a user may take at the provider.
const ATTEMPT_LIFETIME_MS: u64 = 10 * 60 * 1000;
/// How long a login token works (the spec's recommendation for such tokens).
const LOGIN_TOKEN_LIFETIME_MS: u64 = 2 * 60 * 1000;

/// The identity providers and the logins in flight.
#[derive(Clone, Debug)]
pub struct Sso {
    config: Arc<Config>,
    db: Db,
    providers: Arc<HashMap<String, Arc<Provider>>>,
    sweep: crate::sweep::SweepClock,
}

/// A login sent to a provider.
#[derive(Debug)]
pub struct Started {
    /// Where to send the browser.
    pub location: String,
    /// The value of [`BROWSER_COOKIE`] to give it.
    pub browser_cookie: String,
}

/// What came back from a provider.
#[derive(Debug)]
pub(crate) struct Returned {
    pub provider: Arc<Provider>,
    pub claims: Map<String, Value>,
    pub redirect_url: String,
}

impl Sso {
    pub(crate) fn new(config: Arc<Config>, db: Db) -> Result<Self> {
        let mut providers = HashMap::new();
        for provider in &config.oidc.providers {
            providers.insert(provider.id.clone(), Arc::new(Provider::new(provider.clone())?));
        }
        Ok(Self {
            config,
            db,
            providers: Arc::new(providers),
            sweep: crate::sweep::SweepClock::default(),
        })
    }

    /// `(id, name)` of every provider, in config order.
    pub fn providers(&self) -> Vec<(String, String)> {
        self.config
            .oidc
            .providers
            .iter()
            .map(|provider| (provider.id.clone(), provider.name.clone()))
            .collect()
    }

    fn callback_url(&self) -> String {
        let base = self.config.client_api.public_baseurl.as_deref().unwrap_or_default();
        format!("{}{CALLBACK_PATH}", base.trim_end_matches('/'))
    }

    /// Starts a login through provider `idp_id` that returns to `redirect_url`.
    pub async fn start(&self, idp_id: &str, redirect_url: &str) -> Result<Started> {
        check_redirect_url(redirect_url)?;
        let provider = self
            .providers
            .get(idp_id)
            .ok_or_else(|| Error::not_found(format!("No identity provider {idp_id:?} on this server")))?;
        let authorization = provider.authorize(&self.callback_url()).await?;
        let browser_cookie = generate_secret();
        let attempt = SsoAttempt {
            provider: idp_id.to_owned(),
            nonce: authorization.nonce,
            pkce_verifier: authorization.pkce_verifier,
            redirect_url: redirect_url.to_owned(),
            browser: hex(&hash_token(&browser_cookie)),
            created_ts: now_millis(),
        };
        let mut batch = WriteBatch::new();
        self.db.put_sso_attempt(&mut batch, &authorization.state, &attempt);
        self.forget_abandoned(&mut batch)?;
        self.db.write(batch)?;
        Ok(Started {
            location: authorization.url,
            browser_cookie,
        })
    }

    /// Queues forgetting logins that never came back, and login tokens never redeemed.
    fn forget_abandoned(&self, batch: &mut WriteBatch) -> Result<()> {
        if !self.sweep.due() {
            return Ok(());
        }
        let now = now_millis();
        for (state, attempt) in self.db.sso_attempts()? {
            if now.saturating_sub(attempt.created_ts) > ATTEMPT_LIFETIME_MS {
                self.db.delete_sso_attempt(batch, &state);
            }
        }
        for (hash, token) in self.db.login_tokens()? {
            if token.expires_ts <= now {
                self.db.delete_login_token(batch, &hash);
            }
        }
        Ok(())
    }

    /// The provider's answer at the callback: the attempt is used up first, then checked
    /// (age, browser), then the code exchanged and the ID token checked.
    pub(crate) async fn finish(&self, state: &str, code: &str, browser_cookie: Option<&str>) -> Result<Returned> {
        let attempt = self.db.sso_attempt(state)?.ok_or_else(|| {
            Error::forbidden("This login link was already used or never started here; start the login again")
        })?;
        let mut batch = WriteBatch::new();
        self.db.delete_sso_attempt(&mut batch, state);
        self.db.write(batch)?;
        if now_millis().saturating_sub(attempt.created_ts) > ATTEMPT_LIFETIME_MS {
            return Err(Error::forbidden("This login took too long; start it again"));
        }
        let same_browser = browser_cookie.is_some_and(|cookie| hex(&hash_token(cookie)) == attempt.browser);
        if !same_browser {
            return Err(Error::forbidden(
                "This login was started in another browser (or cookies are blocked); start it again here",
            ));
        }
        let provider = self.providers.get(&attempt.provider).cloned().ok_or_else(|| {
            Error::forbidden(format!(
                "Identity provider {} is no longer configured",
                attempt.provider
            ))
        })?;
        let claims = provider
            .finish(
                &self.callback_url(),
                code.to_owned(),
                attempt.nonce,
                attempt.pkce_verifier,
            )
            .await?;
        Ok(Returned {
            provider,
            claims,
            redirect_url: attempt.redirect_url,
        })
    }

    /// A new single-use login token for `user_id`.
    pub(crate) fn issue_login_token(&self, user_id: &OwnedUserId) -> Result<String> {
        let token = generate_secret();
        let record = LoginTokenRecord {
            user_id: user_id.clone(),
            expires_ts: now_millis().saturating_add(LOGIN_TOKEN_LIFETIME_MS),
        };
        let mut batch = WriteBatch::new();
        self.db.put_login_token(&mut batch, &hash_token(&token), &record);
        self.db.write(batch)?;
        Ok(token)
    }

    /// The user a login token names; the token is used up. 403 `M_FORBIDDEN` for an unknown,
    /// used or expired token (spec).
    pub fn redeem_login_token(&self, token: &str) -> Result<OwnedUserId> {
        let hash = hash_token(token);
        let invalid = || Error::forbidden("Invalid or expired login token; log in again");
        let record = self.db.login_token(&hash)?.ok_or_else(invalid)?;
        let mut batch = WriteBatch::new();
        self.db.delete_login_token(&mut batch, &hash);
        self.db.write(batch)?;
        if record.expires_ts <= now_millis() {
            return Err(invalid());
        }
        Ok(record.user_id)
    }
}

/// `redirectUrl` must be an absolute URL a client can receive: http(s), or an app's own
/// scheme; never `javascript:`, `data:` or the like, which would run in Accord's page.
fn check_redirect_url(redirect_url: &str) -> Result<()> {
    let url = url::Url::parse(redirect_url)
        .map_err(|err| Error::invalid_param(format!("redirectUrl is not an absolute URL: {err}")))?;
    const REFUSED: &[&str] = &["javascript", "data", "vbscript", "file", "blob", "about"];
    if REFUSED.contains(&url.scheme()) {
        return Err(Error::invalid_param(format!(
            "redirectUrl may not use the {}: scheme",
            url.scheme()
        )));
    }
    Ok(())
}
