//! From a provider's checked claims to a local account: the account linked to the provider's
//! user, or at the first login a new one (or, with `allow_existing_users`, the existing
//! account of that name), then a login token for the client.

use ruma::{OwnedUserId, UserId};
use serde_json::Value;

use super::{Returned, mapping};
use crate::{Error, Result, Services, accounts::validate_new_localpart};

/// A finished SSO login.
#[derive(Debug)]
pub struct SsoLogin {
    /// Who logged in.
    pub user_id: OwnedUserId,
    /// `redirectUrl` with `loginToken` added: where the browser goes next.
    pub redirect_to: String,
    /// The host (or scheme, for an app) of that address, to name on the confirmation page.
    pub client: String,
}

/// How many numbered alternatives are tried when a localpart is taken.
const MAX_SUFFIX: u32 = 100;

impl Services {
    /// The callback of an SSO login: checks the provider's answer, finds or makes the
    /// account, and issues the login token.
    pub async fn sso_callback(&self, state: &str, code: &str, browser_cookie: Option<&str>) -> Result<SsoLogin> {
        let returned = self.sso.finish(state, code, browser_cookie).await?;
        let user_id = self.sso_account(&returned).await?;
        let token = self.sso.issue_login_token(&user_id)?;
        let mut url = url::Url::parse(&returned.redirect_url).map_err(|err| Error::Internal(err.to_string()))?;
        url.query_pairs_mut().append_pair("loginToken", &token);
        let client = url
            .host_str()
            .map_or_else(|| format!("{}:", url.scheme()), str::to_owned);
        tracing::info!(user = %user_id, provider = %returned.provider.config.id, "SSO login");
        Ok(SsoLogin {
            user_id,
            redirect_to: url.to_string(),
            client,
        })
    }

    async fn sso_account(&self, returned: &Returned) -> Result<OwnedUserId> {
        let config = &returned.provider.config;
        let subject = returned
            .claims
            .get("sub")
            .and_then(Value::as_str)
            .filter(|sub| !sub.is_empty())
            .ok_or_else(|| Error::forbidden(format!("{} sent no subject (sub) for the user", config.name)))?;
        if let Some(user_id) = self.db().sso_user(&config.id, subject)? {
            return Ok(user_id);
        }
        let localpart = mapping::localpart(&returned.claims, &config.localpart_claim).ok_or_else(|| {
            Error::forbidden(format!(
                "{} sent no usable {} for the user, so no Matrix id can be made; ask an administrator",
                config.name, config.localpart_claim
            ))
        })?;
        let displayname = mapping::displayname(&returned.claims, &config.displayname_claim);
        for suffix in 0..MAX_SUFFIX {
            let candidate = if suffix == 0 {
                localpart.clone()
            } else {
                format!("{localpart}{suffix}")
            };
            let user_id = validate_new_localpart(&candidate, &self.config.server_name)?;
            if self.check_user_not_exclusive(&user_id, None).is_err() {
                continue;
            }
            let existing = self.db().get_account(&user_id)?;
            let take_existing = suffix == 0
                && config.allow_existing_users
                && existing.as_ref().is_some_and(|account| !account.deactivated)
                && !self.db().has_sso_link(&user_id)?;
            if existing.is_some() && !take_existing {
                continue;
            }
            self.link(&user_id, &config.id, subject, displayname.clone()).await?;
            return Ok(user_id);
        }
        Err(Error::forbidden(format!(
            "No free Matrix id near {localpart:?}; ask an administrator"
        )))
    }

    /// Makes (or takes) the account and links the provider's user to it, in one batch.
    async fn link(&self, user_id: &UserId, provider: &str, subject: &str, displayname: Option<String>) -> Result<()> {
        self.accounts
            .provision(user_id, false, displayname, |db, batch| {
                db.put_sso_link(batch, provider, subject, user_id);
            })
            .await?;
        tracing::info!(user = %user_id, %provider, "identity provider user linked");
        Ok(())
    }

    /// `m.login.token`: the token's user, if the account may log in.
    pub fn user_of_login_token(&self, token: &str) -> Result<OwnedUserId> {
        let user_id = self.sso.redeem_login_token(token)?;
        let account = self
            .db()
            .get_account(&user_id)?
            .ok_or_else(|| Error::forbidden("Invalid login token"))?;
        crate::accounts::check_may_log_in(&account)?;
        Ok(user_id)
    }
}
