//! Which other servers take part in a room: the servers of its members (where our events go),
//! and the server access control list (`m.room.server_acl`), enforced on remote servers' events
//! and room-scoped requests; the local server is exempt.

use accord_core::glob::glob_matches;
use ruma::events::room::member::MembershipState;
use ruma::{RoomId, ServerName, events::StateEventType};
use serde_json::Value;

use crate::{Result, Rooms};

/// Whether an ACL's content lets `server` in (spec rules: ports are ignored; IP literals only
/// with `allow_ip_literals`, default true; any `deny` match refuses; otherwise an `allow`
/// match is required).
pub fn acl_allows(content: &Value, server: &ServerName) -> bool {
    let host = server.host().to_ascii_lowercase();
    let patterns = |key: &str| -> Vec<String> {
        content
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_ascii_lowercase)
            .collect()
    };
    let allow_ip_literals = content
        .get("allow_ip_literals")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let is_ip = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
        .is_ok();
    if is_ip && !allow_ip_literals {
        return false;
    }
    if patterns("deny").iter().any(|p| glob_matches(p, &host)) {
        return false;
    }
    patterns("allow").iter().any(|p| glob_matches(p, &host))
}

impl Rooms {
    /// Other servers with a member in the room whose membership is one of `memberships`
    /// (where events and EDUs go).
    pub fn remote_servers(
        &self,
        room_id: &RoomId,
        memberships: &[MembershipState],
    ) -> Result<Vec<ruma::OwnedServerName>> {
        let mut servers: Vec<ruma::OwnedServerName> = self
            .db
            .members_of_room(room_id)?
            .into_iter()
            .filter(|(_, membership)| memberships.contains(membership))
            .map(|(user, _)| user.server_name().to_owned())
            .filter(|server| *server != self.identity.server_name)
            .collect();
        servers.sort();
        servers.dedup();
        Ok(servers)
    }

    /// Whether the room's current server ACL (if any) lets `server` take part.
    pub fn server_allowed_in_room(&self, room_id: &RoomId, server: &ServerName) -> Result<bool> {
        if server == self.identity.server_name {
            return Ok(true);
        }
        let state = self.current_state(room_id)?;
        Ok(match self.state_event(&state, &StateEventType::RoomServerAcl, "")? {
            Some(acl) => acl_allows(&acl.content_value(), server),
            None => true,
        })
    }
}

#[cfg(test)]
mod tests {
    use ruma::server_name;
    use serde_json::json;

    use super::*;

    #[test]
    fn spec_rules() {
        let acl = json!({ "allow": ["*"], "deny": ["*.evil.example", "evil.example"], "allow_ip_literals": false });
        assert!(acl_allows(&acl, server_name!("good.example")));
        assert!(acl_allows(&acl, server_name!("good.example:8448")), "ports are ignored");
        assert!(!acl_allows(&acl, server_name!("evil.example")));
        assert!(!acl_allows(&acl, server_name!("matrix.evil.example:443")));
        assert!(!acl_allows(&acl, server_name!("127.0.0.1:8448")), "no IP literals");
        assert!(
            !acl_allows(&json!({ "deny": [] }), server_name!("good.example")),
            "no allow list allows nobody"
        );
        assert!(acl_allows(
            &json!({ "allow": ["*.agency.gov"] }),
            server_name!("m.agency.gov")
        ));
        assert!(
            acl_allows(&json!({ "allow": ["*"] }), server_name!("[::1]:8448")),
            "IP literals allowed by default"
        );
    }
}
