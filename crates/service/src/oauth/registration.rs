//! Dynamic client registration (RFC 7591, as the spec profiles it): a client describes
//! itself and where it may be sent back to, and gets a `client_id`. The rules keep a client
//! from naming redirect addresses it doesn't own: web clients only on their own host (or a
//! subdomain) over https; native apps on a private scheme made of their host reversed, or on
//! loopback over plain http with any port.

use accord_core::time::now_millis;
use accord_db::{OAuthClient, WriteBatch};
use serde_json::{Map, Value};
use url::Url;

use super::{OAuth, OAuthError};
use crate::tokens::random_alphanumeric;

/// Grant types a client may register (others are ignored and left out, as the spec asks).
const GRANT_TYPES: [&str; 3] = [
    "authorization_code",
    "refresh_token",
    "urn:ietf:params:oauth:grant-type:device_code",
];

fn bad_metadata(why: impl Into<String>) -> OAuthError {
    OAuthError::bad("invalid_client_metadata", why)
}

fn bad_redirect(why: impl Into<String>) -> OAuthError {
    OAuthError::bad("invalid_redirect_uri", why)
}

/// Whether `host` is `base` or one of its subdomains.
fn same_site(host: &str, base: &str) -> bool {
    host == base || host.ends_with(&format!(".{base}"))
}

/// An https URL without credentials on the client's own host (`client_uri`, logos, terms).
fn check_https_uri(field: &str, text: &str, client_host: Option<&str>) -> Result<(), OAuthError> {
    let url = Url::parse(text).map_err(|err| bad_metadata(format!("{field} is not a URL: {err}")))?;
    let host = url.host_str().unwrap_or_default();
    if url.scheme() != "https" || host.is_empty() || !url.username().is_empty() || url.password().is_some() {
        return Err(bad_metadata(format!(
            "{field} must be an https URL without user or password"
        )));
    }
    if let Some(client_host) = client_host
        && !same_site(host, client_host)
    {
        return Err(bad_metadata(format!(
            "{field} must be on {client_host} or a subdomain of it"
        )));
    }
    Ok(())
}

fn check_redirect_uri(text: &str, native: bool, client_host: &str) -> Result<(), OAuthError> {
    let url = Url::parse(text).map_err(|err| bad_redirect(format!("{text:?} is not a URL: {err}")))?;
    if url.fragment().is_some() {
        return Err(bad_redirect(format!("{text}: redirect URIs can't have a fragment")));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad_redirect(format!("{text}: no user or password in redirect URIs")));
    }
    let host = url.host_str().unwrap_or_default();
    match url.scheme() {
        "https" if same_site(host, client_host) => Ok(()),
        "https" => Err(bad_redirect(format!(
            "{text} is not on {client_host} or a subdomain of it"
        ))),
        "http" if native && matches!(host, "localhost" | "127.0.0.1" | "[::1]") => {
            if url.port().is_some() {
                return Err(bad_redirect(format!(
                    "{text}: register loopback redirects without a port (any port is then accepted)"
                )));
            }
            Ok(())
        }
        "http" => Err(bad_redirect(format!(
            "{text}: http is only for a native app's loopback redirect"
        ))),
        scheme if native => {
            let reversed: Vec<&str> = client_host.split('.').rev().collect();
            let reversed = reversed.join(".");
            let owned = scheme == reversed || scheme.starts_with(&format!("{reversed}."));
            if !owned {
                return Err(bad_redirect(format!(
                    "{text}: a native app's own scheme must start with {reversed} (its client_uri host reversed)"
                )));
            }
            if url.has_host() {
                return Err(bad_redirect(format!("{text}: use {scheme}:/path, without //")));
            }
            Ok(())
        }
        _ => Err(bad_redirect(format!("{text}: web clients redirect over https only"))),
    }
}

impl OAuth {
    /// Registers a client; answers its `client_id` with the metadata it registered.
    pub fn register(&self, metadata: Value) -> Result<Value, OAuthError> {
        let Value::Object(mut fields) = metadata else {
            return Err(bad_metadata("the body must be a JSON object"));
        };
        let text =
            |fields: &Map<String, Value>, name: &str| fields.get(name).and_then(Value::as_str).map(str::to_owned);
        let client_uri = text(&fields, "client_uri").ok_or_else(|| bad_metadata("client_uri is required"))?;
        check_https_uri("client_uri", &client_uri, None)?;
        let client_host = Url::parse(&client_uri)
            .ok()
            .and_then(|url| url.host_str().map(str::to_owned))
            .unwrap_or_default();
        for (field, value) in &fields {
            let base = field.split('#').next().unwrap_or_default();
            if matches!(base, "logo_uri" | "tos_uri" | "policy_uri") {
                let uri = value
                    .as_str()
                    .ok_or_else(|| bad_metadata(format!("{field} must be a string")))?;
                check_https_uri(field, uri, Some(&client_host))?;
            }
        }
        let auth_method = text(&fields, "token_endpoint_auth_method").unwrap_or_else(|| "none".to_owned());
        if auth_method != "none" {
            return Err(bad_metadata(
                "token_endpoint_auth_method must be none: Accord registers public clients",
            ));
        }
        let application_type = text(&fields, "application_type").unwrap_or_else(|| "web".to_owned());
        let native = match application_type.as_str() {
            "web" => false,
            "native" => true,
            other => {
                return Err(bad_metadata(format!(
                    "application_type {other:?} is neither web nor native"
                )));
            }
        };
        let grant_types: Vec<String> = fields
            .get("grant_types")
            .and_then(Value::as_array)
            .map(|all| {
                all.iter()
                    .filter_map(Value::as_str)
                    .filter(|g| GRANT_TYPES.contains(g))
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_else(|| vec!["authorization_code".to_owned()]);
        let redirect_uris: Vec<String> = match fields.get("redirect_uris") {
            None => Vec::new(),
            Some(Value::Array(all)) => all
                .iter()
                .map(|uri| {
                    uri.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| bad_redirect("redirect_uris must be strings"))
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(bad_redirect("redirect_uris must be a list")),
        };
        if grant_types.iter().any(|g| g == "authorization_code") {
            if redirect_uris.is_empty() {
                return Err(bad_redirect(
                    "the authorization code grant needs at least one redirect URI",
                ));
            }
            let response_types_ok = fields
                .get("response_types")
                .and_then(Value::as_array)
                .is_none_or(|all| all.iter().any(|t| t == "code"));
            if !response_types_ok {
                return Err(bad_metadata("response_types must include code"));
            }
        }
        for uri in &redirect_uris {
            check_redirect_uri(uri, native, &client_host)?;
        }
        fields.insert("grant_types".to_owned(), Value::from(grant_types));
        fields.insert("token_endpoint_auth_method".to_owned(), Value::from("none"));
        fields.insert("application_type".to_owned(), Value::from(application_type.clone()));
        if redirect_uris.is_empty() {
            fields.remove("response_types");
        } else {
            fields.insert("response_types".to_owned(), Value::from(vec!["code"]));
        }
        let client_id = random_alphanumeric(24);
        let now = now_millis();
        let client = OAuthClient {
            metadata: Value::Object(fields.clone()),
            redirect_uris,
            application_type,
            created_ts: now,
        };
        let mut batch = WriteBatch::new();
        self.db.put_oauth_client(&mut batch, &client_id, &client);
        self.db.write(batch).map_err(OAuthError::internal)?;
        tracing::info!(%client_id, client_uri = %client_uri, "OAuth client registered");
        fields.insert("client_id".to_owned(), Value::from(client_id));
        fields.insert("client_id_issued_at".to_owned(), Value::from(now / 1000));
        Ok(Value::Object(fields))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_follow_the_spec_examples() {
        for ok in [
            "https://example.com/callback",
            "https://app.example.com/callback",
            "https://example.com:5173/?query=value",
        ] {
            assert!(check_redirect_uri(ok, false, "example.com").is_ok(), "{ok}");
        }
        for bad in [
            "https://example.com/callback#fragment",
            "http://example.com/callback",
            "http://localhost/",
            "https://evil.example/cb",
        ] {
            assert!(check_redirect_uri(bad, false, "example.com").is_err(), "{bad}");
        }
        for ok in [
            "com.example.app:/callback",
            "com.example:/",
            "com.example:callback",
            "http://localhost/callback",
            "http://127.0.0.1/callback",
            "http://[::1]/callback",
        ] {
            assert!(check_redirect_uri(ok, true, "example.com").is_ok(), "{ok}");
        }
        for bad in [
            "example:/callback",
            "com.example.app://callback",
            "https://localhost/callback",
            "http://localhost:1234/callback",
            "org.evil:/cb",
        ] {
            assert!(check_redirect_uri(bad, true, "example.com").is_err(), "{bad}");
        }
    }
}
