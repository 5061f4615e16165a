//! Push rules: the spec's server-default ruleset merged with the user's own rules, stored as
//! the user's `m.push_rules` account data (so `/sync` can deliver it like any account data).

use accord_db::Db;
use ruma::{
    RoomId, UserId,
    api::error::ErrorKind,
    power_levels::NotificationPowerLevelsKey,
    push::{
        Action, ConditionalPushRule, ConditionalPushRuleInit, HighlightTweakValue, InsertPushRuleError,
        NewConditionalPushRule, NewPushRule, NewSimplePushRule, PatternedPushRuleInit, PushCondition,
        RemovePushRuleError, RuleKind, Ruleset, SoundTweakValue, Tweak,
    },
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
            Some(global) => {
                let mut stored: Ruleset = serde_json::from_value(global)
                    .map_err(|err| Error::Internal(format!("stored push rules of {user_id} are unreadable: {err}")))?;
                // The server's defaults as they are now, keeping what the user enabled or changed.
                stored.update_with_server_default(server_default(user_id));
                Ok(stored)
            }
            None => Ok(server_default(user_id)),
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

    /// Copies the user's rules for room `old` to room `new` (after an upgrade): the room rule
    /// named after `old`, and enabled override and underride rules matching `room_id` against
    /// `old`, renamed and re-pointed at `new`. Rules the user already has for `new` are kept
    /// as they are. Returns whether anything was copied.
    pub fn copy_room_rules(&self, user_id: &UserId, old: &RoomId, new: &RoomId) -> Result<bool> {
        let mut ruleset = self.ruleset(user_id)?;
        let mut copies = Vec::new();
        for rule in &ruleset.room {
            if rule.rule_id == old && rule.enabled && ruleset.get(RuleKind::Room, new.as_str()).is_none() {
                copies.push(NewPushRule::Room(NewSimplePushRule::new(
                    new.to_owned(),
                    rule.actions.clone(),
                )));
            }
        }
        for (kind, rules) in [
            (RuleKind::Override, &ruleset.override_),
            (RuleKind::Underride, &ruleset.underride),
        ] {
            for rule in rules.iter().filter(|rule| !rule.default && rule.enabled) {
                let matches_old = |condition: &PushCondition| matches!(condition, PushCondition::EventMatch(data) if data.key == "room_id" && data.pattern == old.as_str());
                if !rule.conditions.iter().any(matches_old) {
                    continue;
                }
                let rule_id = match rule.rule_id.contains(old.as_str()) {
                    true => rule.rule_id.replace(old.as_str(), new.as_str()),
                    false => format!("{}-{new}", rule.rule_id),
                };
                if ruleset.get(kind.clone(), &rule_id).is_some() {
                    continue;
                }
                let conditions = rule
                    .conditions
                    .iter()
                    .map(|condition| match condition {
                        PushCondition::EventMatch(data) if matches_old(condition) => PushCondition::EventMatch(
                            ruma::push::EventMatchConditionData::new(data.key.clone(), new.to_string()),
                        ),
                        other => other.clone(),
                    })
                    .collect();
                let copy = NewConditionalPushRule::new(rule_id, conditions, rule.actions.clone());
                copies.push(match kind {
                    RuleKind::Override => NewPushRule::Override(copy),
                    _ => NewPushRule::Underride(copy),
                });
            }
        }
        if copies.is_empty() {
            return Ok(false);
        }
        for copy in copies {
            ruleset
                .insert(copy, None, None)
                .map_err(|err| Error::Internal(format!("copying a push rule: {err}")))?;
        }
        self.save(user_id, &ruleset)?;
        Ok(true)
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

/// The server-default ruleset: the spec's, plus the three "legacy mention" rules the spec
/// dropped in v1.7 (`.m.rule.contains_display_name`, `.m.rule.roomnotif`,
/// `.m.rule.contains_user_name`), which Synapse still serves by default. Clients and
/// Complement (TestThreadedReceipts highlights a body naming the user) rely on them; ruma's
/// evaluator skips them for events that carry `m.mentions`, as the spec asks.
#[allow(deprecated)] // `ContainsDisplayName`: the legacy rule is the point here.
pub fn server_default(user_id: &UserId) -> Ruleset {
    let mut ruleset = Ruleset::server_default(user_id);
    let highlight = || {
        vec![
            Action::Notify,
            Action::SetTweak(Tweak::Sound(SoundTweakValue::Default)),
            Action::SetTweak(Tweak::Highlight(HighlightTweakValue::Yes)),
        ]
    };
    let legacy = |rule_id: &str, conditions: Vec<PushCondition>, actions: Vec<Action>| -> ConditionalPushRule {
        ConditionalPushRuleInit {
            actions,
            default: true,
            enabled: true,
            rule_id: rule_id.to_owned(),
            conditions,
        }
        .into()
    };
    let display_name = legacy(
        ".m.rule.contains_display_name",
        vec![PushCondition::ContainsDisplayName],
        highlight(),
    );
    let room_notif = legacy(
        ".m.rule.roomnotif",
        vec![
            PushCondition::EventMatch(ruma::push::EventMatchConditionData::new(
                "content.body".to_owned(),
                "@room".to_owned(),
            )),
            PushCondition::SenderNotificationPermission(ruma::push::SenderNotificationPermissionConditionData::new(
                NotificationPowerLevelsKey::Room,
            )),
        ],
        vec![
            Action::Notify,
            Action::SetTweak(Tweak::Highlight(HighlightTweakValue::Yes)),
        ],
    );
    // Synapse's order: each legacy rule right after the rule that replaced it.
    let mut override_ = Vec::with_capacity(ruleset.override_.len() + 2);
    for rule in std::mem::take(&mut ruleset.override_) {
        let after = match rule.rule_id.as_str() {
            ".m.rule.is_user_mention" => Some(display_name.clone()),
            ".m.rule.is_room_mention" => Some(room_notif.clone()),
            _ => None,
        };
        override_.push(rule);
        override_.extend(after);
    }
    ruleset.override_ = override_.into_iter().collect();
    add_poll_rules(&mut ruleset);
    ruleset.content.insert(
        PatternedPushRuleInit {
            actions: highlight(),
            default: true,
            enabled: true,
            rule_id: ".m.rule.contains_user_name".to_owned(),
            pattern: user_id.localpart().to_owned(),
        }
        .into(),
    );
    ruleset
}

/// The poll rules of MSC3930 under their unstable ids, as Synapse serves them (with
/// `event_match` conditions; Complement's TestPollsLocalPushRules compares them exactly):
/// responses silent, starts and ends notifying, one-to-one rooms with a sound.
fn add_poll_rules(ruleset: &mut Ruleset) {
    let rule = |rule_id: &str, conditions: Vec<PushCondition>, actions: Vec<Action>| -> ConditionalPushRule {
        ConditionalPushRuleInit {
            actions,
            default: true,
            enabled: true,
            rule_id: format!(".org.matrix.msc3930.rule.{rule_id}"),
            conditions,
        }
        .into()
    };
    let of_type = |kind: &str| {
        PushCondition::EventMatch(ruma::push::EventMatchConditionData::new(
            "type".to_owned(),
            format!("org.matrix.msc3381.poll.{kind}"),
        ))
    };
    let two_members = || {
        PushCondition::RoomMemberCount(ruma::push::RoomMemberCountConditionData::new(
            ruma::push::RoomMemberCountIs::from(ruma::uint!(2)),
        ))
    };
    let sound = || vec![Action::Notify, Action::SetTweak(Tweak::Sound(SoundTweakValue::Default))];
    ruleset
        .override_
        .insert(rule("poll_response", vec![of_type("response")], Vec::new()));
    for kind in ["start", "end"] {
        ruleset.underride.insert(rule(
            &format!("poll_{kind}_one_to_one"),
            vec![two_members(), of_type(kind)],
            sound(),
        ));
        ruleset
            .underride
            .insert(rule(&format!("poll_{kind}"), vec![of_type(kind)], vec![Action::Notify]));
    }
}

/// Looks up a rule in a ruleset or fails with `M_NOT_FOUND`.
pub fn find_rule<'a>(ruleset: &'a Ruleset, kind: RuleKind, rule_id: &str) -> Result<ruma::push::AnyPushRuleRef<'a>> {
    ruleset.get(kind, rule_id).ok_or_else(|| rule_not_found(rule_id))
}
