//! Push rules: the spec's server-default ruleset merged with the user's own rules, stored as
//! the user's `m.push_rules` account data (so `/sync` can deliver it like any account data).

use accord_db::Db;
use ruma::{
    UserId,
    api::error::ErrorKind,
    push::{Action, InsertPushRuleError, NewPushRule, RemovePushRuleError, RuleKind, Ruleset},
};
use serde_json::{Value, json};

use crate::{Error, Result};

const PUSH_RULES_EVENT: &str = "m.push_rules";

/// Push rule reads and writes.
#[derive(Clone, Debug)]
pub struct PushRules {
    db: Db,
}

fn rule_not_found(rule_id: &str) -> Error {
    Error::not_found(format!("No push rule {rule_id}"))
}

impl PushRules {
    pub(crate) fn new(db: Db) -> Self {
        Self { db }
    }

    /// The user's ruleset: stored, or the server defaults for a user who never changed any.
    pub fn ruleset(&self, user_id: &UserId) -> Result<Ruleset> {
        let stored = self.db.get_account_data(user_id, None, PUSH_RULES_EVENT)?;
        match stored.and_then(|content| content.get("global").cloned()) {
            Some(global) => serde_json::from_value(global)
                .map_err(|err| Error::Internal(format!("stored push rules of {user_id} are unreadable: {err}"))),
            None => Ok(Ruleset::server_default(user_id)),
        }
    }

    fn save(&self, user_id: &UserId, ruleset: &Ruleset) -> Result<()> {
        let content: Value = json!({ "global": ruleset });
        self.db.write_at_next_count(|batch, count| {
            self.db
                .put_account_data(batch, user_id, None, PUSH_RULES_EVENT, &content, count)
        })?;
        Ok(())
    }

    /// Adds or replaces a user rule, positioned relative to `before`/`after`.
    pub fn set(&self, user_id: &UserId, rule: NewPushRule, after: Option<&str>, before: Option<&str>) -> Result<()> {
        let mut ruleset = self.ruleset(user_id)?;
        ruleset.insert(rule, after, before).map_err(|err| match err {
            InsertPushRuleError::UnknownRuleId => {
                Error::not_found("The rule named by `before` or `after` does not exist")
            }
            other => Error::new(ErrorKind::InvalidParam, other.to_string()),
        })?;
        self.save(user_id, &ruleset)
    }

    /// Removes a user rule; server-default rules can't be removed.
    pub fn delete(&self, user_id: &UserId, kind: RuleKind, rule_id: &str) -> Result<()> {
        let mut ruleset = self.ruleset(user_id)?;
        ruleset.remove(kind, rule_id).map_err(|err| match err {
            RemovePushRuleError::NotFound => rule_not_found(rule_id),
            other => Error::new(ErrorKind::InvalidParam, other.to_string()),
        })?;
        self.save(user_id, &ruleset)
    }

    /// Enables or disables a rule.
    pub fn set_enabled(&self, user_id: &UserId, kind: RuleKind, rule_id: &str, enabled: bool) -> Result<()> {
        let mut ruleset = self.ruleset(user_id)?;
        ruleset
            .set_enabled(kind, rule_id, enabled)
            .map_err(|_| rule_not_found(rule_id))?;
        self.save(user_id, &ruleset)
    }

    /// Replaces a rule's actions.
    pub fn set_actions(&self, user_id: &UserId, kind: RuleKind, rule_id: &str, actions: Vec<Action>) -> Result<()> {
        let mut ruleset = self.ruleset(user_id)?;
        ruleset
            .set_actions(kind, rule_id, actions)
            .map_err(|_| rule_not_found(rule_id))?;
        self.save(user_id, &ruleset)
    }
}

/// Looks up a rule in a ruleset or fails with `M_NOT_FOUND`.
pub fn find_rule<'a>(ruleset: &'a Ruleset, kind: RuleKind, rule_id: &str) -> Result<ruma::push::AnyPushRuleRef<'a>> {
    ruleset.get(kind, rule_id).ok_or_else(|| rule_not_found(rule_id))
}
