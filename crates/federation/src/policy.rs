//! Which servers this server may federate with: `federation.allowed_servers` (empty: all) minus
//! `federation.denied_servers`, as glob patterns. Checked before any network access in both
//! directions; replaceable at runtime (config reload).

use accord_core::glob::glob_matches;
use ruma::ServerName;

/// The allow and deny lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerPolicy {
    allowed: Vec<String>,
    denied: Vec<String>,
}

impl ServerPolicy {
    /// A policy from the configured patterns (lower-cased: server names are case-insensitive).
    pub fn new(allowed: &[String], denied: &[String]) -> Self {
        let lower = |patterns: &[String]| patterns.iter().map(|p| p.to_ascii_lowercase()).collect();
        Self {
            allowed: lower(allowed),
            denied: lower(denied),
        }
    }

    /// Whether federation with `server` is allowed.
    pub fn allows(&self, server: &ServerName) -> bool {
        let name = server.as_str().to_ascii_lowercase();
        let allowed = self.allowed.is_empty() || self.allowed.iter().any(|p| glob_matches(p, &name));
        allowed && !self.denied.iter().any(|p| glob_matches(p, &name))
    }
}

#[cfg(test)]
mod tests {
    use ruma::server_name;

    use super::*;

    #[test]
    fn allow_and_deny() {
        let open = ServerPolicy::default();
        assert!(open.allows(server_name!("anyone.example")));
        let closed = ServerPolicy::new(
            &["*.agency.gov".to_owned(), "partner.example".to_owned()],
            &["bad.agency.gov".to_owned()],
        );
        assert!(closed.allows(server_name!("matrix.agency.gov")));
        assert!(closed.allows(server_name!("Partner.Example")));
        assert!(!closed.allows(server_name!("bad.agency.gov")), "deny wins");
        assert!(!closed.allows(server_name!("elsewhere.example")));
        let denylist = ServerPolicy::new(&[], &["evil.example".to_owned()]);
        assert!(denylist.allows(server_name!("good.example")));
        assert!(!denylist.allows(server_name!("evil.example")));
    }
}
