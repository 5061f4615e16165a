//! The first administrator, made without editing files or stopping the server: while no
//! account is an admin, the server offers a one-time registration token, printed in its log at
//! start and valid for 24 hours. The account registered with it (through any Matrix client,
//! whatever `registration.mode` says) becomes an admin, and the offer ends. Once any admin
//! exists (made through the CLI, say), a token still on offer is withdrawn at the next start.
//! `registration.first_admin_token = false` turns the offer off.

use accord_core::time::now_millis;
use accord_db::{FirstAdminToken, WriteBatch};

use crate::{Result, Services, registration_tokens::NewToken};

/// How long the offered token works, ms.
const VALID_FOR_MS: u64 = 24 * 60 * 60 * 1000;

impl Services {
    /// At start: offers (and prints) a first-admin token if none is usable and no admin exists;
    /// withdraws one once an admin exists.
    pub fn offer_first_admin_token(&self) -> Result<()> {
        let db = self.db();
        let offered = db.first_admin_token()?;
        if !self.config.registration.first_admin_token || db.has_active_admin()? {
            if let Some(offered) = offered {
                self.withdraw_first_admin_token(&offered)?;
            }
            return Ok(());
        }
        let now = now_millis();
        if let Some(offered) = &offered
            && self
                .registration_tokens
                .get(&offered.token)
                .is_ok_and(|info| info.valid_at(now))
        {
            tracing::warn!(
                printed_at_ms = offered.created_ts,
                valid_until_ms = offered.created_ts + VALID_FOR_MS,
                "No administrator yet. The one-time token for the first one was printed in the log when it was made; it works until it expires, then a restart prints a new one"
            );
            return Ok(());
        }
        if let Some(stale) = &offered {
            self.withdraw_first_admin_token(stale)?;
        }
        let info = self.registration_tokens.create(NewToken {
            length: Some(32),
            uses_allowed: Some(1),
            expiry_time: Some(now + VALID_FOR_MS),
            ..NewToken::default()
        })?;
        let mut batch = WriteBatch::new();
        let record = FirstAdminToken {
            token: info.token.clone(),
            created_ts: now,
        };
        db.put_first_admin_token(&mut batch, Some(&record));
        db.write(batch)?;
        let at = self
            .config
            .client_api
            .public_baseurl
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.config.client_api.bind));
        tracing::warn!(
            token = %info.token,
            homeserver = %at,
            "No administrator yet. Register the first one with this one-time registration token, valid for 24 hours: in any Matrix client (choose this homeserver, create an account, give the token) or with `accord admin`. It is printed only now"
        );
        Ok(())
    }

    /// Whether `token` is the first-admin token on offer.
    pub fn is_first_admin_token(&self, token: &str) -> Result<bool> {
        Ok(self
            .db()
            .first_admin_token()?
            .is_some_and(|offered| offered.token == token))
    }

    /// The first admin registered: the offer ends (its token is used up already).
    pub fn first_admin_registered(&self) -> Result<()> {
        if let Some(offered) = self.db().first_admin_token()? {
            self.withdraw_first_admin_token(&offered)?;
        }
        Ok(())
    }

    fn withdraw_first_admin_token(&self, offered: &FirstAdminToken) -> Result<()> {
        // Already gone (used or deleted through the admin API) is fine.
        let _ = self.registration_tokens.delete(&offered.token);
        let mut batch = WriteBatch::new();
        self.db().put_first_admin_token(&mut batch, None);
        self.db().write(batch)?;
        tracing::info!("first-admin token withdrawn");
        Ok(())
    }
}
