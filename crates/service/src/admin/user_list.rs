//! The account list of `GET /_synapse/admin/v2/users`: filtered, ordered and paged by offset,
//! as Synapse answers it (tools page with `next_token` and show `total`).

use std::cmp::Ordering;

use ruma::OwnedUserId;

use super::{Admin, AdminUser};
use crate::{Error, Result};

/// What to order the list by (Synapse's `order_by`); ties go by user id.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum UserOrder {
    /// User id.
    #[default]
    Name,
    /// Admins last (first backward).
    Admin,
    /// Deactivated last.
    Deactivated,
    /// Locked last.
    Locked,
    /// Shadow-banned last.
    ShadowBanned,
    /// Guests (none here).
    IsGuest,
    /// User type.
    UserType,
    /// Display name.
    Displayname,
    /// Avatar.
    AvatarUrl,
    /// Creation time.
    CreationTs,
    /// Last activity.
    LastSeenTs,
}

impl UserOrder {
    /// Parses Synapse's `order_by` value; 400 for an unknown one.
    pub fn parse(value: &str) -> Result<Self> {
        Ok(match value {
            "name" => Self::Name,
            "admin" => Self::Admin,
            "deactivated" => Self::Deactivated,
            "locked" => Self::Locked,
            "shadow_banned" => Self::ShadowBanned,
            "is_guest" => Self::IsGuest,
            "user_type" => Self::UserType,
            "displayname" => Self::Displayname,
            "avatar_url" => Self::AvatarUrl,
            "creation_ts" => Self::CreationTs,
            "last_seen_ts" => Self::LastSeenTs,
            other => return Err(Error::invalid_param(format!("Unknown order_by {other:?}"))),
        })
    }

    fn compare(self, a: &AdminUser, b: &AdminUser) -> Ordering {
        let by = match self {
            Self::Name => Ordering::Equal,
            Self::Admin => a.admin.cmp(&b.admin),
            Self::Deactivated => a.deactivated.cmp(&b.deactivated),
            Self::Locked => a.locked.cmp(&b.locked),
            Self::ShadowBanned => a.shadow_banned.cmp(&b.shadow_banned),
            Self::IsGuest => a.is_guest.cmp(&b.is_guest),
            Self::UserType => a.user_type.cmp(&b.user_type),
            Self::Displayname => a.displayname.cmp(&b.displayname),
            Self::AvatarUrl => a.avatar_url.cmp(&b.avatar_url),
            Self::CreationTs => a.creation_ts.cmp(&b.creation_ts),
            Self::LastSeenTs => a.last_seen_ts.cmp(&b.last_seen_ts),
        };
        by.then_with(|| a.name.cmp(&b.name))
    }
}

/// The list's filters and page.
#[derive(Debug, Clone)]
pub struct UserListQuery {
    /// Offset of the first account.
    pub from: usize,
    /// Accounts at most.
    pub limit: usize,
    /// Include deactivated accounts (v2 default: no).
    pub deactivated: bool,
    /// Include locked accounts (Synapse's default: no).
    pub locked: bool,
    /// Only admins (`Some(true)`), only non-admins (`Some(false)`).
    pub admins: Option<bool>,
    /// Substring of the user id.
    pub user_id: Option<String>,
    /// Substring of the localpart or display name (takes precedence over `user_id`).
    pub name: Option<String>,
    /// Order.
    pub order_by: UserOrder,
    /// Backward order.
    pub backward: bool,
}

impl Default for UserListQuery {
    fn default() -> Self {
        Self {
            from: 0,
            limit: 100,
            deactivated: false,
            locked: false,
            admins: None,
            user_id: None,
            name: None,
            order_by: UserOrder::Name,
            backward: false,
        }
    }
}

impl UserListQuery {
    fn keeps(&self, user: &AdminUser, user_id: &OwnedUserId) -> bool {
        if (user.deactivated && !self.deactivated) || (user.locked && !self.locked) {
            return false;
        }
        if self.admins.is_some_and(|admins| admins != user.admin) {
            return false;
        }
        if let Some(name) = &self.name {
            let name = name.to_lowercase();
            return user_id.localpart().to_lowercase().contains(&name)
                || user
                    .displayname
                    .as_ref()
                    .is_some_and(|shown| shown.to_lowercase().contains(&name));
        }
        self.user_id
            .as_ref()
            .is_none_or(|part| user_id.as_str().contains(part.as_str()))
    }
}

impl Admin {
    /// One page of local accounts, and how many match in all.
    pub fn list_users(&self, query: &UserListQuery) -> Result<(Vec<AdminUser>, usize)> {
        let mut users = Vec::new();
        for user_id in self.db.account_user_ids()? {
            if user_id.server_name() != self.server_name() {
                continue;
            }
            let Some(account) = self.db.get_account(&user_id)? else {
                continue;
            };
            let user = self.render_user(&user_id, &account)?;
            if query.keeps(&user, &user_id) {
                users.push(user);
            }
        }
        users.sort_by(|a, b| {
            let order = query.order_by.compare(a, b);
            if query.backward { order.reverse() } else { order }
        });
        let total = users.len();
        let page = users.into_iter().skip(query.from).take(query.limit).collect();
        Ok((page, total))
    }
}
