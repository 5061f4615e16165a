//! OpenID tokens (spec: client-server "OpenID", server-server "OpenID"): a user asks for a
//! token and gives it to a third party, which asks this server whose it is. Stored hashed, for
//! an hour.

use accord_core::time::now_millis;
use accord_db::{OpenIdSession, WriteBatch};
use ruma::{OwnedUserId, UserId};

use crate::{
    AuthedUser, Error, Result, Services,
    tokens::{hash_token, random_alphanumeric},
};

/// How long an OpenID token is valid.
pub const OPENID_TOKEN_LIFETIME_MS: u64 = 60 * 60 * 1000;

impl Services {
    /// `POST /user/{userId}/openid/request_token`: a new token for the caller.
    pub fn request_openid_token(&self, user: &AuthedUser, target: &UserId) -> Result<String> {
        if target != user.user_id {
            return Err(Error::forbidden("You can only request OpenID tokens for yourself"));
        }
        let token = random_alphanumeric(32);
        let session = OpenIdSession {
            user_id: user.user_id.clone(),
            expires_at: now_millis().saturating_add(OPENID_TOKEN_LIFETIME_MS),
        };
        let mut batch = WriteBatch::new();
        self.db().put_openid_session(&mut batch, &hash_token(&token), &session);
        self.db().write(batch)?;
        Ok(token)
    }

    /// `GET /openid/userinfo`: the user a live token was issued to; expired tokens are
    /// removed.
    pub fn openid_userinfo(&self, token: &str) -> Result<OwnedUserId> {
        let hash = hash_token(token);
        let unknown = || {
            Error::new(
                ruma::api::error::ErrorKind::UnknownToken(ruma::api::error::UnknownTokenErrorData::new()),
                "The OpenID token is unknown or expired",
            )
        };
        let session = self.db().get_openid_session(&hash)?.ok_or_else(unknown)?;
        if session.expires_at <= now_millis() {
            let mut batch = WriteBatch::new();
            self.db().delete_openid_session(&mut batch, &hash);
            self.db().write(batch)?;
            return Err(unknown());
        }
        Ok(session.user_id)
    }
}
