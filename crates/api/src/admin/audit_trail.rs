//! Every request to an admin API leaves an audit record: who (the token's user, or nobody),
//! from where, what (method, path, the query without any token) and how it ended (status).
//! Refused requests are recorded too: someone probing the admin API is a security event.
//! Request bodies are never recorded (they hold passwords).
//!
//! The record is written after the answer is made, apart from the action's own writes, so a
//! crash between the two can lose the record of a completed action; the actions that matter
//! most (account state, passwords, devices, logins) also record themselves atomically in the
//! service layer.

use accord_service::{
    Services,
    audit::{AuditEvent, kinds},
};
use axum::{
    extract::{Request, State},
    middleware::Next,
    response::Response,
};

use crate::extract::{client_ip, token_owner};

/// The path prefixes of the admin APIs.
const ADMIN_PREFIXES: &[&str] = &[
    "/_synapse/admin/",
    "/_matrix/client/v1/admin/",
    "/_matrix/client/v3/admin/",
    "/_accord/admin/",
];

/// The shared-secret registration endpoint sits under Synapse's admin prefix but takes no
/// admin token; the account it creates is recorded by the account service.
const NOT_ADMIN: &[&str] = &["/_synapse/admin/v1/register"];

fn is_admin_path(path: &str) -> bool {
    ADMIN_PREFIXES.iter().any(|prefix| path.starts_with(prefix)) && !NOT_ADMIN.contains(&path)
}

/// Records the request if it is to an admin API; passes everything else through untouched.
pub(crate) async fn record_admin_requests(State(services): State<Services>, request: Request, next: Next) -> Response {
    if !is_admin_path(request.uri().path()) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let actor = token_owner(&services, &parts);
    let ip = client_ip(&services, &parts.headers, &parts.extensions);
    let method = parts.method.to_string();
    let path = parts.uri.path().to_owned();
    let query = parts
        .uri
        .query()
        .map(query_without_tokens)
        .filter(|query| !query.is_empty());
    let response = next.run(Request::from_parts(parts, body)).await;
    let mut event = AuditEvent::new(kinds::ADMIN_REQUEST)
        .ip(ip)
        .detail("method", method)
        .detail("status", response.status().as_u16());
    if let Some(target) = target_of(&path) {
        event = event.target(target);
    }
    event = event.detail("path", path);
    if let Some(query) = query {
        event = event.detail("query", query);
    }
    if let Some(actor) = actor {
        event = event.actor(actor);
    }
    services.audit.record(event);
    response
}

/// The query string without `access_token`.
fn query_without_tokens(query: &str) -> String {
    query
        .split('&')
        .filter(|pair| !pair.starts_with("access_token="))
        .collect::<Vec<_>>()
        .join("&")
}

/// The first user, room or server-notice target named in the path (`@user:server`,
/// `!room:server`, `#alias:server`), percent-decoded, so records can be filtered by whom an
/// action touched.
fn target_of(path: &str) -> Option<String> {
    path.split('/')
        .map(|segment| percent_encoding::percent_decode_str(segment).decode_utf8_lossy())
        .find(|segment| segment.starts_with(['@', '!', '#']))
        .map(|segment| segment.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_paths_are_recognized_but_not_shared_secret_registration() {
        assert!(is_admin_path("/_synapse/admin/v2/users"));
        assert!(is_admin_path("/_matrix/client/v1/admin/lock/@a:x"));
        assert!(is_admin_path("/_accord/admin/v1/audit"));
        assert!(!is_admin_path("/_synapse/admin/v1/register"));
        assert!(!is_admin_path("/_matrix/client/v3/login"));
    }

    #[test]
    fn tokens_leave_the_query_and_targets_are_decoded() {
        assert_eq!(query_without_tokens("access_token=secret&limit=5"), "limit=5");
        assert_eq!(
            target_of("/_synapse/admin/v2/users/%40alice%3Ahs.example/devices").as_deref(),
            Some("@alice:hs.example")
        );
        assert_eq!(
            target_of("/_synapse/admin/v1/rooms/!r:x/members").as_deref(),
            Some("!r:x")
        );
        assert_eq!(target_of("/_synapse/admin/v1/server_version"), None);
    }
}
