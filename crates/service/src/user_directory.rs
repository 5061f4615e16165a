//! `POST /user_directory/search` (spec: "User directory"). Who is found, as on Synapse by
//! default: the users sharing a joined room with the searcher, and the members of rooms
//! published in the room directory (Synapse counts rooms with a public join rule; a published
//! room is the explicit choice to be found here); with `user_directory.search_all_users`,
//! every local account too. Matching is by word prefix on the user id and the profile display
//! name, never a room-specific name (Complement's TestRoomSpecificUsername*).

use std::collections::{BTreeMap, BTreeSet};

use ruma::{OwnedUserId, UserId, events::room::member::MembershipState};
use serde_json::Value;

use crate::{AuthedUser, Result, Services};

/// One user found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryUser {
    /// The user.
    pub user_id: OwnedUserId,
    /// Their profile display name (local users).
    pub display_name: Option<String>,
    /// Their profile avatar (local users).
    pub avatar_url: Option<String>,
}

/// The words of a name or id: lower-cased runs of letters and digits.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Every word of the search is the start of some word of the user id or display name.
fn matches(terms: &[String], user_id: &UserId, display_name: Option<&str>) -> bool {
    let mut known = words(user_id.as_str());
    if let Some(name) = display_name {
        known.extend(words(name));
    }
    !terms.is_empty()
        && terms
            .iter()
            .all(|term| known.iter().any(|word| word.starts_with(term.as_str())))
}

impl Services {
    /// `POST /user_directory/search`: at most `limit` users, and whether more matched.
    pub fn search_user_directory(
        &self,
        searcher: &AuthedUser,
        search_term: &str,
        limit: usize,
    ) -> Result<(Vec<DirectoryUser>, bool)> {
        let terms = words(search_term);
        let db = self.db();
        let mut candidates = BTreeSet::new();
        for (room_id, record) in db.rooms_of_user(&searcher.user_id)? {
            if record.membership == MembershipState::Join {
                candidates.extend(
                    joined(db, &room_id)?
                        .into_iter()
                        .filter(|user| user != &searcher.user_id),
                );
            }
        }
        for room_id in db.published_rooms()? {
            candidates.extend(joined(db, &room_id)?);
        }
        if self.config.user_directory.search_all_users {
            for user_id in db.account_user_ids()? {
                if user_id.server_name() == self.config.server_name {
                    candidates.insert(user_id);
                }
            }
        }
        let mut found = BTreeMap::new();
        for user_id in candidates {
            let profile = if user_id.server_name() == self.config.server_name {
                match db.get_account(&user_id)? {
                    Some(account) if !account.deactivated => db.profile(&user_id)?,
                    _ => continue,
                }
            } else {
                serde_json::Map::new()
            };
            let text = |field: &str| profile.get(field).and_then(Value::as_str).map(str::to_owned);
            let display_name = text("displayname");
            if matches(&terms, &user_id, display_name.as_deref()) {
                found.insert(
                    user_id.clone(),
                    DirectoryUser {
                        user_id,
                        display_name,
                        avatar_url: text("avatar_url"),
                    },
                );
            }
        }
        let limited = found.len() > limit;
        Ok((found.into_values().take(limit).collect(), limited))
    }
}

/// The joined members of a room.
fn joined(db: &accord_db::Db, room_id: &ruma::RoomId) -> Result<Vec<OwnedUserId>> {
    Ok(db
        .members_of_room(room_id)?
        .into_iter()
        .filter(|(_, membership)| *membership == MembershipState::Join)
        .map(|(user, _)| user)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_match_by_prefix_on_id_and_name() {
        let user: OwnedUserId = "@user-1-alice:hs1".try_into().expect("user id");
        let terms = |text: &str| words(text);
        assert!(matches(&terms("@user"), &user, None));
        assert!(matches(&terms("ALI"), &user, None));
        assert!(matches(&terms("alice cooper"), &user, Some("Alice Cooper")));
        assert!(!matches(&terms("freddy"), &user, Some("Alice Cooper")));
        assert!(!matches(&terms("cooperx"), &user, Some("Alice Cooper")));
        assert!(
            !matches(&terms("  "), &user, Some("Alice Cooper")),
            "an empty search finds nobody"
        );
    }
}
