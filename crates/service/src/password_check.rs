//! Proving an account's password: against the LDAP directory when `[ldap]` is on, else (or
//! for accounts the directory doesn't know, with `ldap.local_fallback`) against the local
//! argon2id hash. Login and the UIA password stage both ask here, so a directory user can
//! confirm a device deletion with the same password they log in with.

use std::sync::Arc;

use accord_core::config::LdapConfig;
use accord_db::Db;
use ruma::UserId;

use crate::{
    Result,
    ldap::{Directory, DirectoryAnswer, DirectoryUser},
    passwords,
};

/// The outcome of a password check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Proof {
    /// The local password matched.
    Local,
    /// The directory vouched for the user.
    Directory(DirectoryUser),
    /// Wrong password, or no such user.
    Failed,
}

/// Checks passwords.
#[derive(Clone, Debug)]
pub(crate) struct PasswordCheck {
    db: Db,
    directory: Option<Arc<Directory>>,
    local_fallback: bool,
}

impl PasswordCheck {
    pub(crate) fn new(db: Db, ldap: &LdapConfig) -> Result<Self> {
        Ok(Self {
            db,
            directory: Directory::from_config(ldap)?.map(Arc::new),
            local_fallback: ldap.local_fallback,
        })
    }

    /// Whether passwords are the directory's to check.
    pub(crate) fn directory_enabled(&self) -> bool {
        self.directory.is_some()
    }

    /// Whether `password` is `user_id`'s.
    pub(crate) async fn prove(&self, user_id: &UserId, password: &str) -> Result<Proof> {
        if let Some(directory) = &self.directory {
            match directory.check(user_id.localpart(), password).await? {
                DirectoryAnswer::Verified(user) => return Ok(Proof::Directory(user)),
                // A directory user's local password (from before the directory) never counts.
                DirectoryAnswer::WrongPassword => return Ok(Proof::Failed),
                DirectoryAnswer::NotFound if !self.local_fallback => return Ok(Proof::Failed),
                DirectoryAnswer::NotFound => {}
            }
        }
        let stored = self.db.get_account(user_id)?.and_then(|account| account.password_hash);
        let Some(stored) = stored else {
            return Ok(Proof::Failed);
        };
        Ok(if passwords::verify(password.to_owned(), stored).await? {
            Proof::Local
        } else {
            Proof::Failed
        })
    }
}
