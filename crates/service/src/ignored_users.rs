//! Ignoring users (spec: "Ignoring Users"): the `m.ignored_user_list` account data, read where
//! events reach clients. Events other than state events from an ignored user are not shown
//! (timelines, `/messages`, `/context`, `/event`, relations, threads, search) and don't
//! count as notifications; state events still are, so the room looks the same to everyone.
//! Invites from ignored users are held back by [`crate::invite_permission`].

use std::collections::HashSet;

use accord_db::Db;
use ruma::{OwnedUserId, UserId};

use crate::Result;

const IGNORED_USER_LIST: &str = "m.ignored_user_list";

/// Whether `user_id` ignores `sender`.
pub(crate) fn ignores(db: &Db, user_id: &UserId, sender: &UserId) -> Result<bool> {
    if user_id == sender {
        return Ok(false);
    }
    Ok(db
        .get_account_data(user_id, None, IGNORED_USER_LIST)?
        .is_some_and(|list| list["ignored_users"].get(sender.as_str()).is_some()))
}

/// Everyone `user_id` ignores.
pub(crate) fn ignored_by(db: &Db, user_id: &UserId) -> Result<HashSet<OwnedUserId>> {
    let Some(list) = db.get_account_data(user_id, None, IGNORED_USER_LIST)? else {
        return Ok(HashSet::new());
    };
    Ok(list["ignored_users"]
        .as_object()
        .map(|users| users.keys().filter_map(|user| UserId::parse(user).ok()).collect())
        .unwrap_or_default())
}
