//! Who may invite a user, from the user's own account data:
//! - `m.invite_permission_config` (spec v1.18) with `default_action: "block"` refuses every
//!   invite;
//! - `org.matrix.msc4155.invite_permission_config` (MSC4155, what Synapse and Complement's
//!   TestInviteFiltering use) lists users and servers, as globs, to allow, ignore or block.
//!
//! - `m.ignored_user_list`: invites from ignored users are never shown (spec: "Servers must
//!   not send room invites from ignored users to clients").
//!
//! A blocked invite is refused with 403 `M_INVITE_BLOCKED` wherever it is made (client invite,
//! a member state event, createRoom's `invite` list, federation `/invite`); an ignored one is
//! made but never shown in /sync. Invites already stored are hidden from /sync by either rule.

use accord_core::glob::glob_matches;
use accord_db::Db;
use ruma::{
    UserId,
    events::invite_permission_config::{InvitePermissionAction, InvitePermissionConfigEventContent},
};
use serde_json::Value;

use crate::{Error, Result};

/// The MSC4155 account data type.
const MSC4155_TYPE: &str = "org.matrix.msc4155.invite_permission_config";
/// Longest glob considered (longer ones are skipped, as Synapse does, to bound matching).
const MAX_PATTERN_CHARS: usize = 255;

/// What happens to an invite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum InviteRule {
    Allow,
    /// Made, but not shown to the invitee.
    Ignore,
    /// Refused with `M_INVITE_BLOCKED`.
    Block,
}

/// The rule `invitee`'s settings give an invite from `inviter`.
pub(crate) fn invite_rule(db: &Db, invitee: &UserId, inviter: &UserId) -> Result<InviteRule> {
    if let Some(config) = db.get_account_data(invitee, None, "m.invite_permission_config")?
        && let Ok(config) = serde_json::from_value::<InvitePermissionConfigEventContent>(config)
        && matches!(config.default_action, Some(InvitePermissionAction::Block))
    {
        return Ok(InviteRule::Block);
    }
    let rule = match db.get_account_data(invitee, None, MSC4155_TYPE)? {
        Some(config) => msc4155_rule(&config, inviter),
        None => InviteRule::Allow,
    };
    if rule == InviteRule::Allow
        && let Some(list) = db.get_account_data(invitee, None, "m.ignored_user_list")?
        && list["ignored_users"].get(inviter.as_str()).is_some()
    {
        return Ok(InviteRule::Ignore);
    }
    Ok(rule)
}

/// The error for a blocked invite.
pub(crate) fn blocked(invitee: &UserId) -> Error {
    Error::new(
        ruma::api::error::ErrorKind::InviteBlocked,
        format!("{invitee} does not accept invites from you"),
    )
}

/// MSC4155's order: the user lists first (allowed, ignored, blocked), then the server lists
/// in the same order; the first match decides, and no match allows.
fn msc4155_rule(config: &Value, inviter: &UserId) -> InviteRule {
    let matches = |field: &str, text: &str| {
        config[field].as_array().is_some_and(|patterns| {
            patterns
                .iter()
                .filter_map(Value::as_str)
                .filter(|pattern| pattern.chars().count() <= MAX_PATTERN_CHARS)
                .any(|pattern| glob_matches(pattern, text))
        })
    };
    let server = inviter.server_name().as_str();
    for (field, text, rule) in [
        ("allowed_users", inviter.as_str(), InviteRule::Allow),
        ("ignored_users", inviter.as_str(), InviteRule::Ignore),
        ("blocked_users", inviter.as_str(), InviteRule::Block),
        ("allowed_servers", server, InviteRule::Allow),
        ("ignored_servers", server, InviteRule::Ignore),
        ("blocked_servers", server, InviteRule::Block),
    ] {
        if matches(field, text) {
            return rule;
        }
    }
    InviteRule::Allow
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rule(config: Value, inviter: &str) -> InviteRule {
        msc4155_rule(&config, <&UserId>::try_from(inviter).expect("user id"))
    }

    #[test]
    fn users_come_before_servers_and_allow_before_ignore_before_block() {
        let bob = "@bob:hs2";
        let evil = "@evil_bob:hs2";
        assert_eq!(rule(json!({}), bob), InviteRule::Allow);
        assert_eq!(rule(json!({ "blocked_users": [bob] }), bob), InviteRule::Block);
        assert_eq!(rule(json!({ "ignored_users": [bob] }), bob), InviteRule::Ignore);
        assert_eq!(rule(json!({ "blocked_servers": ["hs*"] }), evil), InviteRule::Block);
        assert_eq!(rule(json!({ "ignored_servers": ["hs2"] }), bob), InviteRule::Ignore);
        assert_eq!(rule(json!({ "blocked_users": ["@evil_?*"] }), evil), InviteRule::Block);
        let allow_user_block_server = json!({ "allowed_users": [bob], "blocked_servers": ["hs2"] });
        assert_eq!(rule(allow_user_block_server.clone(), bob), InviteRule::Allow);
        assert_eq!(rule(allow_user_block_server, evil), InviteRule::Block);
        let block_user_allow_server = json!({ "blocked_users": [evil], "allowed_servers": ["hs2"] });
        assert_eq!(rule(block_user_allow_server.clone(), evil), InviteRule::Block);
        assert_eq!(rule(block_user_allow_server, bob), InviteRule::Allow);
        let several = json!({ "ignored_users": [bob], "blocked_users": [evil], "allowed_users": [bob, evil] });
        assert_eq!(rule(several.clone(), bob), InviteRule::Allow);
        assert_eq!(rule(several, evil), InviteRule::Allow);
        let nulls = json!({ "allowed_users": null, "ignored_users": null, "blocked_users": null,
            "allowed_servers": null, "ignored_servers": null, "blocked_servers": null });
        assert_eq!(rule(nulls, bob), InviteRule::Allow);
        assert_eq!(rule(json!({ "blocked_users": "not a list" }), bob), InviteRule::Allow);
    }
}
