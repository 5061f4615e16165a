//! Accord as an OAuth 2.0 authorization server (the spec's "OAuth 2.0 API"): registered
//! clients, authorization requests in progress, authorization codes and device grants.
//! The tokens a grant ends in are the ordinary device tokens of `sessions`.

use accord_storage::WriteBatch;
use ruma::{OwnedDeviceId, OwnedUserId};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{
    Db, Result,
    database::encode,
    tables::{
        ACCOUNTCOOKIEHASH_SESSION, OAUTHCLIENTID_CLIENT, OAUTHCODEHASH_GRANT, OAUTHDEVICECODEHASH_GRANT,
        OAUTHREQUESTID_PENDING, OAUTHUSERCODE_DEVICECODEHASH,
    },
};

/// A registered client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthClient {
    /// The metadata as registered (echoed back, and shown on the consent page).
    pub metadata: Value,
    /// Where codes may be sent.
    pub redirect_uris: Vec<String>,
    /// `web` or `native`.
    pub application_type: String,
    /// Registration time, ms since the epoch.
    pub created_ts: u64,
}

/// An authorization request whose user is still on Accord's pages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingAuthorization {
    /// The client asking.
    pub client_id: String,
    /// Where the answer goes.
    pub redirect_uri: String,
    /// `query` or `fragment`.
    pub response_mode: String,
    /// The client's `state`, returned as sent.
    pub state: Option<String>,
    /// The scope asked for, space-separated.
    pub scope: String,
    /// The PKCE S256 challenge.
    pub code_challenge: String,
    /// For a device grant: the hash of its device code (the answer is an approval, not a
    /// redirect).
    #[serde(default)]
    pub device_code_hash: Option<String>,
    /// sha256 (hex) of the cookie of the browser that started it.
    pub browser: String,
    /// Who logged in on Accord's page, once someone did.
    #[serde(default)]
    pub user_id: Option<OwnedUserId>,
    /// When it started, ms since the epoch.
    pub created_ts: u64,
}

/// An authorization code's grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationGrant {
    /// The client it was issued to.
    pub client_id: String,
    /// The redirect URI of the request (the token request must repeat it).
    pub redirect_uri: String,
    /// The PKCE S256 challenge the verifier must meet.
    pub code_challenge: String,
    /// Who approved.
    pub user_id: OwnedUserId,
    /// The device the tokens are for.
    pub device_id: OwnedDeviceId,
    /// The scope granted.
    pub scope: String,
    /// When it stops working, ms since the epoch.
    pub expires_ts: u64,
}

/// A device authorization (RFC 8628).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceGrant {
    /// The client polling.
    pub client_id: String,
    /// The scope asked for.
    pub scope: String,
    /// The code a person types.
    pub user_code: String,
    /// Who approved, once someone did.
    pub approved_by: Option<OwnedUserId>,
    /// Whether the person said no.
    pub denied: bool,
    /// When it stops working, ms since the epoch.
    pub expires_ts: u64,
    /// When the client last polled, ms since the epoch (polling faster than the interval
    /// gets `slow_down`).
    #[serde(default)]
    pub last_poll_ts: u64,
}

/// A person logged in on the account management pages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountPageSession {
    /// Who.
    pub user_id: OwnedUserId,
    /// When it ends, ms since the epoch.
    pub expires_ts: u64,
}

impl Db {
    /// An account page session, by its cookie's hash.
    pub fn account_page_session(&self, cookie_hash: &[u8]) -> Result<Option<AccountPageSession>> {
        self.get_json(ACCOUNTCOOKIEHASH_SESSION, cookie_hash)
    }

    /// Queues storing an account page session.
    pub fn put_account_page_session(&self, batch: &mut WriteBatch, cookie_hash: &[u8], session: &AccountPageSession) {
        batch.put(ACCOUNTCOOKIEHASH_SESSION, cookie_hash.to_vec(), encode(session));
    }

    /// Queues ending an account page session.
    pub fn delete_account_page_session(&self, batch: &mut WriteBatch, cookie_hash: &[u8]) {
        batch.delete(ACCOUNTCOOKIEHASH_SESSION, cookie_hash.to_vec());
    }

    /// A registered client.
    pub fn oauth_client(&self, client_id: &str) -> Result<Option<OAuthClient>> {
        self.get_json(OAUTHCLIENTID_CLIENT, client_id.as_bytes())
    }

    /// Queues registering a client.
    pub fn put_oauth_client(&self, batch: &mut WriteBatch, client_id: &str, client: &OAuthClient) {
        batch.put(OAUTHCLIENTID_CLIENT, client_id.as_bytes(), encode(client));
    }

    /// An authorization request in progress.
    pub fn oauth_pending(&self, request_id: &str) -> Result<Option<PendingAuthorization>> {
        self.get_json(OAUTHREQUESTID_PENDING, request_id.as_bytes())
    }

    /// Queues storing an authorization request in progress.
    pub fn put_oauth_pending(&self, batch: &mut WriteBatch, request_id: &str, pending: &PendingAuthorization) {
        batch.put(OAUTHREQUESTID_PENDING, request_id.as_bytes(), encode(pending));
    }

    /// Queues forgetting an authorization request.
    pub fn delete_oauth_pending(&self, batch: &mut WriteBatch, request_id: &str) {
        batch.delete(OAUTHREQUESTID_PENDING, request_id.as_bytes());
    }

    /// Every authorization request in progress (to forget the abandoned ones).
    pub fn oauth_pendings(&self) -> Result<Vec<(String, PendingAuthorization)>> {
        Ok(self
            .scan_json::<PendingAuthorization>(OAUTHREQUESTID_PENDING, b"")?
            .into_iter()
            .filter_map(|(key, pending)| Some((String::from_utf8(key).ok()?, pending)))
            .collect())
    }

    /// An authorization code's grant, by the code's hash.
    pub fn oauth_grant(&self, code_hash: &[u8]) -> Result<Option<AuthorizationGrant>> {
        self.get_json(OAUTHCODEHASH_GRANT, code_hash)
    }

    /// Queues storing an authorization code's grant.
    pub fn put_oauth_grant(&self, batch: &mut WriteBatch, code_hash: &[u8], grant: &AuthorizationGrant) {
        batch.put(OAUTHCODEHASH_GRANT, code_hash.to_vec(), encode(grant));
    }

    /// Queues deleting an authorization code (used).
    pub fn delete_oauth_grant(&self, batch: &mut WriteBatch, code_hash: &[u8]) {
        batch.delete(OAUTHCODEHASH_GRANT, code_hash.to_vec());
    }

    /// Every authorization code's grant with the code's hash (to forget the expired ones).
    pub fn oauth_grants(&self) -> Result<Vec<(Vec<u8>, AuthorizationGrant)>> {
        self.scan_json(OAUTHCODEHASH_GRANT, b"")
    }

    /// Every device grant with its device code's hash (to forget the expired ones).
    pub fn device_grants(&self) -> Result<Vec<(Vec<u8>, DeviceGrant)>> {
        self.scan_json(OAUTHDEVICECODEHASH_GRANT, b"")
    }

    /// A device grant, by the device code's hash.
    pub fn device_grant(&self, device_code_hash: &[u8]) -> Result<Option<DeviceGrant>> {
        self.get_json(OAUTHDEVICECODEHASH_GRANT, device_code_hash)
    }

    /// The device code hash a user code stands for.
    pub fn device_code_hash_of(&self, user_code: &str) -> Result<Option<Vec<u8>>> {
        self.get_raw(OAUTHUSERCODE_DEVICECODEHASH, user_code.as_bytes())
    }

    /// Queues storing a device grant and its user code.
    pub fn put_device_grant(&self, batch: &mut WriteBatch, device_code_hash: &[u8], grant: &DeviceGrant) {
        batch.put(OAUTHDEVICECODEHASH_GRANT, device_code_hash.to_vec(), encode(grant));
        batch.put(
            OAUTHUSERCODE_DEVICECODEHASH,
            grant.user_code.as_bytes(),
            device_code_hash.to_vec(),
        );
    }

    /// Queues deleting a device grant and its user code.
    pub fn delete_device_grant(&self, batch: &mut WriteBatch, device_code_hash: &[u8], user_code: &str) {
        batch.delete(OAUTHDEVICECODEHASH_GRANT, device_code_hash.to_vec());
        batch.delete(OAUTHUSERCODE_DEVICECODEHASH, user_code.as_bytes());
    }
}
