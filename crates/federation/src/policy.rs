//! Which servers this server may federate with: `federation.allowed_servers` (empty: all) minus
//! `federation.denied_servers`, as glob patterns. Checked before any network access in both
//! directions; replaceable at runtime (config reload).

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

/// `*` matches any run of characters (including none), `?` exactly one; the rest literally.
fn glob_matches(pattern: &str, text: &str) -> bool {
    let (pattern, text): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut p, mut t) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('*') => {
                backtrack = Some((p, t));
                p += 1;
            }
            Some(&c) if c == '?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match backtrack {
                Some((star, matched)) => {
                    p = star + 1;
                    t = matched + 1;
                    backtrack = Some((star, matched + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use ruma::server_name;

    use super::*;

    #[test]
    fn globs() {
        assert!(glob_matches("*.example.org", "matrix.example.org"));
        assert!(!glob_matches("*.example.org", "example.org"));
        assert!(glob_matches("example.org", "example.org"));
        assert!(glob_matches("localhost:84??", "localhost:8448"));
        assert!(!glob_matches("localhost:84??", "localhost:848"));
        assert!(glob_matches("*", "anything"));
        assert!(glob_matches("a*b*c", "aXXbYYc"));
        assert!(!glob_matches("a*b*c", "aXXbYY"));
    }

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
