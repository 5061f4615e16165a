//! The authorization code grant's browser part: the request is checked (client, redirect
//! URI, scope, PKCE), kept while the person logs in on Accord's page and decides, then
//! answered at the client's redirect URI with a single-use code, or `access_denied`.
//!
//! Until the client and its redirect URI are known good, problems are shown to the person,
//! never redirected (RFC 6749 4.1.2.1): otherwise Accord would be an open redirector.

use accord_core::time::now_millis;
use accord_db::{AuthorizationGrant, PendingAuthorization, WriteBatch};
use ruma::{OwnedDeviceId, OwnedUserId, UserId};
use url::Url;

use super::{OAuth, OAuthError, scope};
use crate::{
    Error, Result,
    tokens::{generate_secret, hash_token, hex, random_upper},
};

/// How long a person may take on Accord's pages.
const PENDING_LIFETIME_MS: u64 = 30 * 60 * 1000;
/// How long an authorization code works.
const CODE_LIFETIME_MS: u64 = 5 * 60 * 1000;

/// The query of an authorization request.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct AuthorizeParams {
    /// Must be `code`.
    pub response_type: Option<String>,
    /// The registered client.
    pub client_id: Option<String>,
    /// One of its redirect URIs (loopback ones on any port).
    pub redirect_uri: Option<String>,
    /// Full API access and a device.
    pub scope: Option<String>,
    /// Returned as sent.
    pub state: Option<String>,
    /// `query` (the default) or `fragment`.
    pub response_mode: Option<String>,
    /// The PKCE challenge.
    pub code_challenge: Option<String>,
    /// Must be `S256`.
    pub code_challenge_method: Option<String>,
    /// `create`: the person wants a new account (shown as a hint on the page).
    pub prompt: Option<String>,
}

/// What the browser is shown.
#[derive(Debug)]
pub enum AuthorizeStart {
    /// The login page of a kept request.
    Page {
        /// The request's id (a hidden field of the page's forms).
        request_id: String,
        /// The value of the browser cookie to set.
        browser_cookie: String,
    },
    /// A problem to show the person (the client or redirect URI can't be trusted).
    ShowError(String),
    /// An error for the client, at its redirect URI.
    Redirect(String),
}

/// How a client is named on Accord's pages.
#[derive(Debug, Clone)]
pub struct ClientLabel {
    /// `client_name`, or the host of `client_uri`.
    pub name: String,
    /// The host of `client_uri`.
    pub host: String,
}

/// Whether `requested` is `registered`, or both are loopback http URIs differing only in
/// the port (native apps listen on a port of the moment; RFC 8252 7.3).
fn redirect_matches(requested: &str, registered: &str) -> bool {
    if requested == registered {
        return true;
    }
    let (Ok(mut asked), Ok(known)) = (Url::parse(requested), Url::parse(registered)) else {
        return false;
    };
    let loopback = matches!(known.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    if known.scheme() != "http" || !loopback || known.port().is_some() {
        return false;
    }
    if asked.set_port(None).is_err() {
        return false;
    }
    asked == known
}

/// `redirect_uri` with `params` added to its query or fragment.
pub(super) fn answer_url(redirect_uri: &str, response_mode: &str, params: &[(&str, &str)]) -> String {
    let Ok(mut url) = Url::parse(redirect_uri) else {
        return redirect_uri.to_owned();
    };
    if response_mode == "fragment" {
        let encoded = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params.iter().copied())
            .finish();
        url.set_fragment(Some(&encoded));
    } else {
        url.query_pairs_mut().extend_pairs(params.iter().copied());
    }
    url.to_string()
}

impl OAuth {
    /// Checks an authorization request and keeps it for the person's login.
    pub fn start_authorization(&self, params: AuthorizeParams) -> Result<AuthorizeStart> {
        let Some(client_id) = params.client_id.as_deref() else {
            return Ok(AuthorizeStart::ShowError("The app sent no client_id.".to_owned()));
        };
        let Some(client) = self.db.oauth_client(client_id)? else {
            return Ok(AuthorizeStart::ShowError(
                "The app is not registered here (unknown client_id); try again from the app.".to_owned(),
            ));
        };
        let Some(redirect_uri) = params.redirect_uri.clone() else {
            return Ok(AuthorizeStart::ShowError("The app sent no redirect_uri.".to_owned()));
        };
        if !client
            .redirect_uris
            .iter()
            .any(|known| redirect_matches(&redirect_uri, known))
        {
            return Ok(AuthorizeStart::ShowError(
                "The app asked to be answered at an address it did not register; nothing was sent there.".to_owned(),
            ));
        }
        let response_mode = params.response_mode.clone().unwrap_or_else(|| "query".to_owned());
        let response_mode = match response_mode.as_str() {
            "query" | "fragment" => response_mode,
            _ => "query".to_owned(),
        };
        let state = params.state.clone();
        let refuse = |error: &str, description: &str| {
            let mut answer = vec![("error", error), ("error_description", description)];
            if let Some(state) = state.as_deref() {
                answer.push(("state", state));
            }
            Ok(AuthorizeStart::Redirect(answer_url(
                &redirect_uri,
                &response_mode,
                &answer,
            )))
        };
        if params.response_type.as_deref() != Some("code") {
            return refuse("unsupported_response_type", "response_type must be code");
        }
        let Some(code_challenge) = params.code_challenge.clone().filter(|c| (43..=128).contains(&c.len())) else {
            return refuse("invalid_request", "a PKCE code_challenge (S256) is required");
        };
        if params.code_challenge_method.as_deref() != Some("S256") {
            return refuse("invalid_request", "code_challenge_method must be S256");
        }
        let scope = match scope::parse(params.scope.as_deref().unwrap_or_default()) {
            Ok(scope) => scope,
            Err(err) => return refuse(err.error, &err.description),
        };
        let request_id = generate_secret();
        let browser_cookie = generate_secret();
        let pending = PendingAuthorization {
            client_id: client_id.to_owned(),
            redirect_uri,
            response_mode,
            state: params.state,
            scope: scope.granted,
            code_challenge,
            device_code_hash: None,
            browser: hex(&hash_token(&browser_cookie)),
            user_id: None,
            created_ts: now_millis(),
        };
        self.keep_pending(&request_id, &pending)?;
        Ok(AuthorizeStart::Page {
            request_id,
            browser_cookie,
        })
    }

    /// Stores a request in progress, forgetting abandoned ones.
    pub(super) fn keep_pending(&self, request_id: &str, pending: &PendingAuthorization) -> Result<()> {
        let now = now_millis();
        let mut batch = WriteBatch::new();
        if self.sweep.due() {
            // Requests abandoned on the pages, codes never exchanged, devices never approved.
            for (id, old) in self.db.oauth_pendings()? {
                if now.saturating_sub(old.created_ts) > PENDING_LIFETIME_MS {
                    self.db.delete_oauth_pending(&mut batch, &id);
                }
            }
            for (hash, grant) in self.db.oauth_grants()? {
                if grant.expires_ts <= now {
                    self.db.delete_oauth_grant(&mut batch, &hash);
                }
            }
            for (hash, grant) in self.db.device_grants()? {
                if grant.expires_ts <= now {
                    self.db.delete_device_grant(&mut batch, &hash, &grant.user_code);
                }
            }
        }
        self.db.put_oauth_pending(&mut batch, request_id, pending);
        self.db.write(batch)?;
        Ok(())
    }

    /// The request `request_id`, if this browser started it and it is fresh.
    pub fn pending(&self, request_id: &str, browser_cookie: Option<&str>) -> Result<PendingAuthorization> {
        let gone = || Error::forbidden("This login page has expired or was already used; start again from the app");
        let pending = self.db.oauth_pending(request_id)?.ok_or_else(gone)?;
        if now_millis().saturating_sub(pending.created_ts) > PENDING_LIFETIME_MS {
            return Err(gone());
        }
        let same_browser = browser_cookie.is_some_and(|cookie| hex(&hash_token(cookie)) == pending.browser);
        if !same_browser {
            return Err(Error::forbidden(
                "This login was started in another browser (or cookies are blocked); start again from the app",
            ));
        }
        Ok(pending)
    }

    /// Records who logged in for request `request_id`.
    pub fn logged_in(&self, request_id: &str, browser_cookie: Option<&str>, user_id: &UserId) -> Result<()> {
        let mut pending = self.pending(request_id, browser_cookie)?;
        pending.user_id = Some(user_id.to_owned());
        let mut batch = WriteBatch::new();
        self.db.put_oauth_pending(&mut batch, request_id, &pending);
        self.db.write(batch)?;
        Ok(())
    }

    /// The person's decision on request `request_id`: where the browser goes next (the
    /// client's redirect URI with a code or `access_denied`), or, for a device grant, `None`.
    pub fn decide(&self, request_id: &str, browser_cookie: Option<&str>, allow: bool) -> Result<Option<String>> {
        let pending = self.pending(request_id, browser_cookie)?;
        let user_id = pending
            .user_id
            .clone()
            .ok_or_else(|| Error::forbidden("Log in first"))?;
        let mut batch = WriteBatch::new();
        self.db.delete_oauth_pending(&mut batch, request_id);
        if let Some(device_code_hash) = &pending.device_code_hash {
            self.decide_device_grant(&mut batch, device_code_hash, &user_id, allow)?;
            self.db.write(batch)?;
            return Ok(None);
        }
        let mut answer: Vec<(&str, String)> = Vec::new();
        if allow {
            let code = generate_secret();
            let grant = AuthorizationGrant {
                client_id: pending.client_id.clone(),
                redirect_uri: pending.redirect_uri.clone(),
                code_challenge: pending.code_challenge.clone(),
                user_id: user_id.clone(),
                device_id: device_for(&pending.scope),
                scope: pending.scope.clone(),
                expires_ts: now_millis().saturating_add(CODE_LIFETIME_MS),
            };
            self.db.put_oauth_grant(&mut batch, &hash_token(&code), &grant);
            answer.push(("code", code));
            tracing::info!(user = %user_id, client = %pending.client_id, "OAuth authorization granted");
        } else {
            answer.push(("error", "access_denied".to_owned()));
            answer.push(("error_description", "the user declined".to_owned()));
        }
        if let Some(state) = &pending.state {
            answer.push(("state", state.clone()));
        }
        self.db.write(batch)?;
        let pairs: Vec<(&str, &str)> = answer.iter().map(|(key, value)| (*key, value.as_str())).collect();
        Ok(Some(answer_url(&pending.redirect_uri, &pending.response_mode, &pairs)))
    }

    /// How `client_id` is named on the pages.
    pub fn client_label(&self, client_id: &str) -> Result<ClientLabel> {
        let client = self
            .db
            .oauth_client(client_id)?
            .ok_or_else(|| Error::forbidden("Unknown client"))?;
        let host = client.metadata["client_uri"]
            .as_str()
            .and_then(|uri| Url::parse(uri).ok())
            .and_then(|url| url.host_str().map(str::to_owned))
            .unwrap_or_default();
        let name = client.metadata["client_name"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| host.clone());
        Ok(ClientLabel { name, host })
    }

    /// Who logged in for a request, if anyone yet.
    pub fn pending_user(&self, request_id: &str, browser_cookie: Option<&str>) -> Result<Option<OwnedUserId>> {
        Ok(self.pending(request_id, browser_cookie)?.user_id)
    }
}

/// The device a scope names, or a new id.
pub(super) fn device_for(scope: &str) -> OwnedDeviceId {
    scope::parse(scope)
        .ok()
        .and_then(|requested| requested.device_id)
        .unwrap_or_else(|| OwnedDeviceId::from(random_upper(10)))
}

impl From<OAuthError> for Error {
    fn from(err: OAuthError) -> Self {
        Error::invalid_param(format!("{}: {}", err.error, err.description))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_redirects_match_on_any_port_and_nothing_else_loosely() {
        assert!(redirect_matches("http://127.0.0.1:5555/cb", "http://127.0.0.1/cb"));
        assert!(redirect_matches("https://app.example/cb", "https://app.example/cb"));
        assert!(!redirect_matches(
            "https://app.example:444/cb",
            "https://app.example/cb"
        ));
        assert!(!redirect_matches("http://127.0.0.1:5555/other", "http://127.0.0.1/cb"));
        assert!(!redirect_matches(
            "https://app.example/cb/../evil",
            "https://app.example/cb"
        ));
    }

    #[test]
    fn answers_go_in_the_query_or_the_fragment() {
        let query = answer_url("https://app.example/cb?x=1", "query", &[("code", "c"), ("state", "s")]);
        assert_eq!(query, "https://app.example/cb?x=1&code=c&state=s");
        let fragment = answer_url("https://app.example/cb", "fragment", &[("code", "c")]);
        assert_eq!(fragment, "https://app.example/cb#code=c");
    }
}
