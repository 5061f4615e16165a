//! The registered application services, as one snapshot swapped whole on reload (SIGHUP), so
//! a request sees either the old set or the new one, never a mix.

use std::{collections::HashMap, path::PathBuf, sync::Arc};

use accord_core::appservice::{NamespaceKind, Registration, RegistrationError, load_registrations};
use ruma::{ServerName, UserId};

/// One loaded set of registrations.
#[derive(Debug, Default)]
pub struct RegistrySnapshot {
    /// In configuration order (queries ask services in this order, as Synapse does).
    pub list: Vec<Arc<Registration>>,
    by_token: HashMap<String, Arc<Registration>>,
}

impl RegistrySnapshot {
    fn new(list: Vec<Registration>) -> Self {
        let list: Vec<Arc<Registration>> = list.into_iter().map(Arc::new).collect();
        let by_token = list.iter().map(|reg| (reg.as_token.clone(), reg.clone())).collect();
        Self { list, by_token }
    }

    /// The service whose `as_token` this is.
    pub fn by_token(&self, token: &str) -> Option<&Arc<Registration>> {
        self.by_token.get(token)
    }

    /// The service with this id.
    pub fn by_id(&self, id: &str) -> Option<&Arc<Registration>> {
        self.list.iter().find(|reg| reg.id == id)
    }

    /// The service that claims `value` exclusively (a user id: its sender counts as claimed).
    pub fn exclusive_owner(&self, kind: NamespaceKind, value: &str) -> Option<&Arc<Registration>> {
        self.list
            .iter()
            .find(|reg| reg.claims(kind, value) || (kind == NamespaceKind::Users && reg.sender.as_str() == value))
    }

    /// The services interested in a user: their sender, or in a user namespace.
    pub fn interested_in_user<'a>(&'a self, user_id: &'a UserId) -> impl Iterator<Item = &'a Arc<Registration>> + 'a {
        self.list.iter().filter(move |reg| reg.may_act_as(user_id))
    }
}

/// The registry handle. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    current: Arc<parking_lot::RwLock<Arc<RegistrySnapshot>>>,
}

impl Registry {
    /// Reads the configured registration files.
    pub fn load(files: &[PathBuf], server_name: &ServerName) -> Result<Self, RegistrationError> {
        let list = load_registrations(files, server_name)?;
        Ok(Self {
            current: Arc::new(parking_lot::RwLock::new(Arc::new(RegistrySnapshot::new(list)))),
        })
    }

    /// The set in force now.
    pub fn snapshot(&self) -> Arc<RegistrySnapshot> {
        self.current.read().clone()
    }

    /// Reads the files again and, when every one is valid, swaps the set; on any problem the
    /// old set stays and the problem is returned.
    pub fn reload(&self, files: &[PathBuf], server_name: &ServerName) -> Result<usize, RegistrationError> {
        let list = load_registrations(files, server_name)?;
        let count = list.len();
        *self.current.write() = Arc::new(RegistrySnapshot::new(list));
        Ok(count)
    }
}
