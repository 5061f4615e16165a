//! `required_state`: which state events a room is sent with.
//!
//! Entries are `[type, state_key]` pairs where either part may be `*` (any), and a state key
//! may be `$ME` (the syncing user) or, for `m.room.member`, `$LAZY` (the senders of the
//! timeline events sent with the room). A room in several lists and subscriptions gets the
//! union of their entries (MSC4186).

use std::{collections::BTreeSet, sync::Arc};

use ruma::{UserId, events::StateEventType};

/// Any type, or any state key.
const WILDCARD: &str = "*";
/// The syncing user as a state key.
const ME: &str = "$ME";
/// Members who sent the timeline events sent with the room.
const LAZY: &str = "$LAZY";

/// A set of `required_state` entries. Shared: every room of a list holds the same set, and
/// each connection snapshot names one per room it sent, so a copy costs a pointer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RequiredState {
    entries: Arc<BTreeSet<(String, String)>>,
}

impl RequiredState {
    /// The entries of one list or subscription.
    pub fn of(entries: &[(StateEventType, String)]) -> Self {
        Self {
            entries: Arc::new(
                entries
                    .iter()
                    .map(|(kind, key)| (kind.to_string(), key.clone()))
                    .collect(),
            ),
        }
    }

    /// Adds another list's or subscription's entries.
    pub fn extend(&mut self, other: &Self) {
        if !other.entries.is_subset(&self.entries) {
            Arc::make_mut(&mut self.entries).extend(other.entries.iter().cloned());
        }
    }

    /// Whether the state event `(kind, state_key)` is asked for, `$LAZY` aside.
    pub fn wants(&self, kind: &str, state_key: &str, user_id: &UserId) -> bool {
        self.entries.iter().any(|(want_kind, want_key)| {
            (want_kind == WILDCARD || want_kind == kind)
                && (want_key == WILDCARD || want_key == state_key || (want_key == ME && state_key == user_id.as_str()))
        })
    }

    /// The same set as one of `known` when there is one, sharing its storage: connection
    /// snapshots then hold one copy of each set, not one per request that sent a room.
    pub fn interned(self, known: &[Self]) -> Self {
        known.iter().find(|k| **k == self).cloned().unwrap_or(self)
    }

    /// The distinct sets among `all`, each once (by storage).
    pub fn distinct<'a>(all: impl Iterator<Item = &'a Self>) -> Vec<Self> {
        let mut out: Vec<Self> = Vec::new();
        for state in all {
            if !out.iter().any(|known| Arc::ptr_eq(&known.entries, &state.entries)) {
                out.push(state.clone());
            }
        }
        out
    }

    /// Whether the members who sent timeline events are asked for.
    pub fn lazy_members(&self) -> bool {
        self.entries
            .iter()
            .any(|(kind, key)| key == LAZY && (kind == "m.room.member" || kind == WILDCARD))
    }

    /// Whether answering needs a walk over the whole state (a wildcard), rather than the
    /// lookups of [`Self::exact`].
    pub fn needs_walk(&self) -> bool {
        self.entries
            .iter()
            .any(|(kind, key)| kind == WILDCARD || key == WILDCARD)
    }

    /// The entries naming one event each, `$ME` resolved; `$LAZY` left out.
    pub fn exact(&self, user_id: &UserId) -> Vec<(String, String)> {
        self.entries
            .iter()
            .filter(|(kind, key)| kind != WILDCARD && key != WILDCARD && key != LAZY)
            .map(|(kind, key)| {
                let key = if key == ME { user_id.to_string() } else { key.clone() };
                (kind.clone(), key)
            })
            .collect()
    }

    /// Whether every entry of `self` is in `other`: a room sent with `other` already has all
    /// `self` asks for.
    pub fn is_covered_by(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.entries, &other.entries) || self.entries.is_subset(&other.entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(entries: &[(&str, &str)]) -> RequiredState {
        RequiredState::of(
            &entries
                .iter()
                .map(|(kind, key)| (StateEventType::from(*kind), (*key).to_owned()))
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn wildcards_me_and_lazy_match_as_the_msc_says() {
        let me = ruma::user_id!("@me:x");
        let state = of(&[("m.room.name", ""), ("m.room.member", "$ME"), ("*", "k")]);
        assert!(state.wants("m.room.name", "", me));
        assert!(!state.wants("m.room.topic", "", me));
        assert!(state.wants("m.room.member", "@me:x", me));
        assert!(!state.wants("m.room.member", "@other:x", me));
        assert!(state.wants("anything", "k", me));
        assert!(state.needs_walk());
        assert!(!state.lazy_members());
        let lazy = of(&[("m.room.member", "$LAZY"), ("m.room.create", "")]);
        assert!(lazy.lazy_members());
        assert!(!lazy.wants("m.room.member", "@other:x", me));
        assert_eq!(lazy.exact(me), vec![("m.room.create".to_owned(), String::new())]);
        assert!(of(&[("*", "*")]).wants("m.room.topic", "", me));
        assert!(lazy.is_covered_by(&{
            let mut both = lazy.clone();
            both.extend(&state);
            both
        }));
    }
}
