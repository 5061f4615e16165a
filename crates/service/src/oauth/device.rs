//! The device authorization grant (RFC 8628; spec v1.18): a device without a browser (a TV,
//! a terminal) shows a short code; the person opens Accord's page elsewhere, logs in, types
//! the code and approves; the device meanwhile polls the token endpoint.

use std::collections::HashMap;

use accord_core::time::now_millis;
use accord_db::{DeviceGrant, PendingAuthorization, WriteBatch};
use rand::Rng;
use ruma::UserId;
use serde_json::{Value, json};

use super::{OAuth, OAuthError, TokenAnswer, authorize::device_for, scope};
use crate::{
    Error, Result,
    tokens::{generate_secret, hash_token, hex},
};

/// How long a device code works.
const DEVICE_CODE_LIFETIME_MS: u64 = 10 * 60 * 1000;
/// Seconds between polls.
const INTERVAL_SECS: u64 = 5;
/// User code characters: no vowels (no words) and nothing easily confused (0/O, 1/I).
const USER_CODE_CHARS: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";

impl OAuth {
    /// `POST device`: a device code for the client, and the code a person types.
    pub fn device_authorization(&self, form: &HashMap<String, String>) -> Result<Value, OAuthError> {
        let client_id = form
            .get("client_id")
            .ok_or_else(|| OAuthError::bad("invalid_request", "client_id is required"))?;
        let client = self
            .db
            .oauth_client(client_id)
            .map_err(OAuthError::internal)?
            .ok_or_else(|| OAuthError {
                status: 401,
                error: "invalid_client",
                description: "unknown client_id".to_owned(),
            })?;
        let allowed = client.metadata["grant_types"]
            .as_array()
            .is_some_and(|all| all.iter().any(|g| g == "urn:ietf:params:oauth:grant-type:device_code"));
        if !allowed {
            return Err(OAuthError::bad(
                "unauthorized_client",
                "the client did not register the device_code grant",
            ));
        }
        let scope = scope::parse(form.get("scope").map(String::as_str).unwrap_or_default())?;
        let device_code = generate_secret();
        let mut rng = rand::thread_rng();
        let letters: String = (0..8)
            .filter_map(|_| USER_CODE_CHARS.get(rng.gen_range(0..USER_CODE_CHARS.len())))
            .map(|&b| char::from(b))
            .collect();
        let user_code = format!("{}-{}", &letters[..4], &letters[4..]);
        let grant = DeviceGrant {
            client_id: client_id.clone(),
            scope: scope.granted.clone(),
            user_code: user_code.clone(),
            approved_by: None,
            denied: false,
            expires_ts: now_millis().saturating_add(DEVICE_CODE_LIFETIME_MS),
            last_poll_ts: 0,
        };
        let mut batch = WriteBatch::new();
        self.db.put_device_grant(&mut batch, &hash_token(&device_code), &grant);
        self.db.write(batch).map_err(OAuthError::internal)?;
        let verification_uri = self.endpoint("device/verify");
        Ok(json!({
            "device_code": device_code,
            "user_code": user_code,
            "verification_uri": verification_uri,
            "verification_uri_complete": format!("{verification_uri}?user_code={user_code}"),
            "expires_in": DEVICE_CODE_LIFETIME_MS / 1000,
            "interval": INTERVAL_SECS,
        }))
    }

    /// The device's poll of the token endpoint.
    pub(super) fn device_code_grant(&self, form: &HashMap<String, String>) -> Result<TokenAnswer, OAuthError> {
        let device_code = form
            .get("device_code")
            .ok_or_else(|| OAuthError::bad("invalid_request", "device_code is required"))?;
        let client_id = form.get("client_id").map(String::as_str).unwrap_or_default();
        let hash = hash_token(device_code);
        let mut grant = self
            .db
            .device_grant(&hash)
            .map_err(OAuthError::internal)?
            .ok_or_else(|| OAuthError::bad("invalid_grant", "unknown device_code"))?;
        if grant.client_id != client_id {
            return Err(OAuthError::bad(
                "invalid_grant",
                "the device code belongs to another client",
            ));
        }
        let now = now_millis();
        let mut batch = WriteBatch::new();
        if grant.expires_ts <= now {
            self.db.delete_device_grant(&mut batch, &hash, &grant.user_code);
            self.db.write(batch).map_err(OAuthError::internal)?;
            return Err(OAuthError::bad(
                "expired_token",
                "the device code has expired; start again",
            ));
        }
        if grant.denied {
            self.db.delete_device_grant(&mut batch, &hash, &grant.user_code);
            self.db.write(batch).map_err(OAuthError::internal)?;
            return Err(OAuthError::bad("access_denied", "the user declined"));
        }
        let Some(user_id) = grant.approved_by.clone() else {
            let too_soon = now.saturating_sub(grant.last_poll_ts) < INTERVAL_SECS * 1000;
            grant.last_poll_ts = now;
            self.db.put_device_grant(&mut batch, &hash, &grant);
            self.db.write(batch).map_err(OAuthError::internal)?;
            return Err(if too_soon {
                OAuthError::bad("slow_down", "poll at most every interval seconds")
            } else {
                OAuthError::bad("authorization_pending", "the user has not approved yet")
            });
        };
        self.db.delete_device_grant(&mut batch, &hash, &grant.user_code);
        self.db.write(batch).map_err(OAuthError::internal)?;
        self.issue(&user_id, &device_for(&grant.scope), &grant.client_id, &grant.scope)
    }

    /// The verification page's request for `user_code`: kept like an authorization request,
    /// so the same login and consent pages serve it.
    pub fn start_device_verification(&self, user_code: &str) -> Result<(String, String, String)> {
        let code = user_code.trim().to_uppercase();
        let unknown = || Error::not_found("No such code, or it has expired; check the code on your device");
        let hash = self.db.device_code_hash_of(&code)?.ok_or_else(unknown)?;
        let grant = self.db.device_grant(&hash)?.ok_or_else(unknown)?;
        if grant.expires_ts <= now_millis() || grant.approved_by.is_some() || grant.denied {
            return Err(unknown());
        }
        let request_id = generate_secret();
        let browser_cookie = generate_secret();
        let pending = PendingAuthorization {
            client_id: grant.client_id.clone(),
            redirect_uri: String::new(),
            response_mode: "query".to_owned(),
            state: None,
            scope: grant.scope,
            code_challenge: String::new(),
            device_code_hash: Some(hex(&hash)),
            browser: hex(&hash_token(&browser_cookie)),
            user_id: None,
            created_ts: now_millis(),
        };
        self.keep_pending(&request_id, &pending)?;
        Ok((request_id, browser_cookie, grant.client_id))
    }

    /// Queues the person's decision on a device grant.
    pub(super) fn decide_device_grant(
        &self,
        batch: &mut WriteBatch,
        device_code_hash: &str,
        user_id: &UserId,
        allow: bool,
    ) -> Result<()> {
        let hash =
            crate::tokens::unhex(device_code_hash).ok_or_else(|| Error::Internal("bad device code hash".to_owned()))?;
        let mut grant = self
            .db
            .device_grant(&hash)?
            .ok_or_else(|| Error::not_found("The code has expired; start again on your device"))?;
        if allow {
            grant.approved_by = Some(user_id.to_owned());
        } else {
            grant.denied = true;
        }
        self.db.put_device_grant(batch, &hash, &grant);
        tracing::info!(user = %user_id, client = %grant.client_id, allow, "OAuth device grant decided");
        Ok(())
    }
}
