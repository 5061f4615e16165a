//! The token endpoint (authorization code with PKCE, refresh, device code) and revocation.
//! Tokens are the ordinary refreshable device tokens of `sessions`: short-lived access
//! tokens and a refresh token that is replaced at each use.

use std::collections::HashMap;

use accord_core::time::now_millis;
use accord_db::WriteBatch;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ruma::{OwnedDeviceId, UserId};
use sha2::{Digest, Sha256};

use super::{OAuth, OAuthError};
use crate::tokens::hash_token;

/// A successful token answer.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TokenAnswer {
    /// The access token.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds the access token lives.
    pub expires_in: u64,
    /// The refresh token (a new one at every answer).
    pub refresh_token: String,
    /// The scope granted.
    pub scope: String,
}

fn invalid_grant(why: &str) -> OAuthError {
    OAuthError::bad("invalid_grant", why)
}

fn field<'a>(form: &'a HashMap<String, String>, name: &str) -> Result<&'a str, OAuthError> {
    form.get(name)
        .map(String::as_str)
        .filter(|value| !value.is_empty())
        .ok_or_else(|| OAuthError::bad("invalid_request", format!("{name} is required")))
}

impl OAuth {
    /// `POST token`: the form's grant.
    pub fn token(&self, form: &HashMap<String, String>) -> Result<TokenAnswer, OAuthError> {
        match field(form, "grant_type")? {
            "authorization_code" => self.code_grant(form),
            "refresh_token" => self.refresh_grant(form),
            "urn:ietf:params:oauth:grant-type:device_code" => self.device_code_grant(form),
            other => Err(OAuthError::bad(
                "unsupported_grant_type",
                format!("grant_type {other} is not supported"),
            )),
        }
    }

    fn code_grant(&self, form: &HashMap<String, String>) -> Result<TokenAnswer, OAuthError> {
        let code = field(form, "code")?;
        let client_id = field(form, "client_id")?;
        let redirect_uri = field(form, "redirect_uri")?;
        let verifier = field(form, "code_verifier")?;
        let hash = hash_token(code);
        // Used up before anything else is checked: a code works once, right or wrong.
        let grant = self
            .db
            .oauth_grant(&hash)
            .map_err(OAuthError::internal)?
            .ok_or_else(|| invalid_grant("unknown or already used code"))?;
        let mut batch = WriteBatch::new();
        self.db.delete_oauth_grant(&mut batch, &hash);
        self.db.write(batch).map_err(OAuthError::internal)?;
        if grant.expires_ts <= now_millis() {
            return Err(invalid_grant("the code has expired"));
        }
        if grant.client_id != client_id {
            return Err(invalid_grant("the code was issued to another client"));
        }
        if grant.redirect_uri != redirect_uri {
            return Err(invalid_grant("redirect_uri differs from the authorization request's"));
        }
        let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        if !(43..=128).contains(&verifier.len()) || computed != grant.code_challenge {
            return Err(invalid_grant("code_verifier does not match the code_challenge"));
        }
        self.issue(&grant.user_id, &grant.device_id, client_id, &grant.scope)
    }

    /// Makes (or re-keys) the device and answers its tokens.
    pub(super) fn issue(
        &self,
        user_id: &UserId,
        device_id: &OwnedDeviceId,
        client_id: &str,
        scope: &str,
    ) -> Result<TokenAnswer, OAuthError> {
        let account = self
            .db
            .get_account(user_id)
            .map_err(OAuthError::internal)?
            .ok_or_else(|| invalid_grant("the account no longer exists"))?;
        crate::accounts::check_may_log_in(&account).map_err(|err| invalid_grant(&err.to_string()))?;
        let name = self
            .client_label(client_id)
            .map(|label| label.name)
            .unwrap_or_else(|_| client_id.to_owned());
        let mut batch = WriteBatch::new();
        let tokens = self
            .sessions
            .issue_for_device(&mut batch, user_id, device_id, Some(name), true)
            .map_err(OAuthError::internal)?;
        let event = accord_db::AuditEvent::new(crate::audit::kinds::LOGIN)
            .actor(user_id)
            .detail("device_id", device_id.as_str())
            .detail("method", "oauth")
            .detail("client_id", client_id);
        self.db.write_audited(batch, event).map_err(OAuthError::internal)?;
        tracing::info!(user = %user_id, device = %device_id, client = %client_id, "OAuth tokens issued");
        answer(tokens, scope)
    }

    fn refresh_grant(&self, form: &HashMap<String, String>) -> Result<TokenAnswer, OAuthError> {
        let refresh_token = field(form, "refresh_token")?;
        let tokens = self
            .sessions
            .refresh(refresh_token)
            .map_err(|err| invalid_grant(&err.to_string()))?;
        let scope = form.get("scope").cloned().unwrap_or_default();
        answer(tokens, &scope)
    }

    /// `POST revoke` (RFC 7009): the session of an access or refresh token ends, device and
    /// all (spec). Unknown tokens are answered the same, so revocation reveals nothing.
    pub fn revoke(&self, form: &HashMap<String, String>) -> Result<(), OAuthError> {
        let token = field(form, "token")?;
        let revoked = self.sessions.revoke(token).map_err(OAuthError::internal)?;
        if let Some((user_id, device_id)) = revoked {
            tracing::info!(user = %user_id, device = %device_id, "OAuth session revoked");
        }
        Ok(())
    }
}

fn answer(tokens: crate::sessions::IssuedTokens, scope: &str) -> Result<TokenAnswer, OAuthError> {
    let refresh_token = tokens
        .refresh_token
        .ok_or_else(|| OAuthError::internal("a refreshable session got no refresh token"))?;
    Ok(TokenAnswer {
        access_token: tokens.access_token,
        token_type: "Bearer",
        expires_in: tokens.expires_in.map_or(0, |lifetime| lifetime.as_secs()),
        refresh_token,
        scope: scope.to_owned(),
    })
}
