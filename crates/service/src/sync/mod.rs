//! `/sync`: initial and incremental, long-polling until something for the user arrives.
//!
//! Tokens are stream positions: `next_batch = p` means every event and account data change at
//! or below `p` has been delivered. Because positions become visible only once everything
//! below them committed, a client never misses an event that committed late, and tokens stay
//! valid across restarts.

mod filter;
mod lazy_members;
mod room;

pub(crate) use lazy_members::LazyMembers;

use std::time::Duration;

use ruma::{
    UserId,
    api::client::sync::sync_events::{DeviceLists, v3::Response},
};
use serde_json::json;

pub use filter::SyncFilter;
pub(crate) use room::STRIPPED_STATE_TYPES;

use crate::{
    AuthedUser, Error, Result, Services, device_keys::DeviceListChanges, raw::raw_jsons, rooms::read::parse_token,
};

/// Longest a `/sync` waits, whatever the client asks.
const MAX_TIMEOUT: Duration = Duration::from_secs(120);

/// What the client asked for.
#[derive(Debug, Clone, Default)]
pub struct SyncRequest {
    /// `since` token.
    pub since: Option<String>,
    /// Send full state even for incremental syncs.
    pub full_state: bool,
    /// How long to wait for something to arrive.
    pub timeout: Duration,
    /// `set_presence`: `online` (default), `unavailable` or `offline`.
    pub set_presence: String,
    /// The filter.
    pub filter: SyncFilter,
    /// `use_state_after` (MSC4222, spec v1.16): `state_after` instead of `state`.
    pub use_state_after: bool,
}

impl Services {
    /// Resolves the `filter` query parameter: inline JSON, or the id of a stored filter.
    pub fn sync_filter(&self, user_id: &UserId, filter: Option<&str>) -> Result<SyncFilter> {
        let Some(filter) = filter else {
            return Ok(SyncFilter::default());
        };
        let value = if filter.trim_start().starts_with('{') {
            serde_json::from_str(filter).map_err(|err| Error::bad_json(format!("Invalid inline filter: {err}")))?
        } else {
            self.filters.get(user_id, user_id, filter)?
        };
        serde_json::from_value(value).map_err(|err| Error::bad_json(format!("Invalid filter: {err}")))
    }

    /// Runs one `/sync`.
    pub async fn sync(&self, user: &AuthedUser, request: SyncRequest) -> Result<Response> {
        let since = request.since.as_deref().map(parse_token).transpose()?;
        self.presence_from_sync(&user.user_id, &request.set_presence)?;
        if let Some(since) = since {
            self.acknowledge_to_device(&user.user_id, &user.device_id, since)?;
        }
        let db = self.db();
        let mut stream = db.subscribe_stream();
        let deadline = tokio::time::Instant::now() + request.timeout.min(MAX_TIMEOUT);
        loop {
            let until = *stream.borrow_and_update();
            let until = until.max(db.visible_count());
            let response = if since.is_none() || request.full_state {
                self.full_sync_off_workers(user, since, until, &request).await?
            } else {
                self.sync_once(user, since, until, &request)?
            };
            let has_news = since.is_none() || request.full_state || response.1;
            if has_news || tokio::time::Instant::now() >= deadline {
                return Ok(response.0);
            }
            if tokio::time::timeout_at(deadline, stream.changed()).await.is_err() {
                // Timed out: answer with what there is (nothing new), at the newest position.
                let until = db.visible_count();
                return Ok(self.sync_once(user, since, until, &request)?.0);
            }
        }
    }

    /// [`Self::sync_once`] for a full sync, which reads the state and timeline of every room
    /// of the user (thousands of reads for a large account): on the blocking pool, so the
    /// async workers keep serving other requests. Incremental syncs stay inline (well under a
    /// millisecond, and the long-poll loop runs them on every wake-up).
    async fn full_sync_off_workers(
        &self,
        user: &AuthedUser,
        since: Option<u64>,
        until: u64,
        request: &SyncRequest,
    ) -> Result<(Response, bool)> {
        let (this, user, request) = (self.clone(), user.clone(), request.clone());
        tokio::task::spawn_blocking(move || this.sync_once(&user, since, until, &request)).await?
    }

    /// Builds the response for `(since, until]`; the flag says whether it carries anything.
    fn sync_once(
        &self,
        user: &AuthedUser,
        since: Option<u64>,
        until: u64,
        request: &SyncRequest,
    ) -> Result<(Response, bool)> {
        let ruleset = self.push_rules.ruleset(&user.user_id)?;
        let rooms = self.rooms.sync_rooms(&room::SyncWindow {
            user,
            since,
            until,
            full_state: request.full_state,
            newly_joined: false,
            state_after: request.use_state_after,
            filter: &request.filter,
            ruleset: &ruleset,
        })?;
        let mut account_data = Vec::new();
        match since {
            None => {
                for (kind, content) in self.db().account_data_in(&user.user_id, None)? {
                    // Deleted events (MSC3391) are news only to incremental syncs.
                    if !crate::account_data::is_deleted(&content) {
                        account_data.push(json!({ "type": kind, "content": content }));
                    }
                }
            }
            Some(since) => {
                for (room, kind) in self.db().account_data_changes(&user.user_id, since, until)? {
                    if room.is_none()
                        && let Some(content) = self.db().get_account_data(&user.user_id, None, &kind)?
                    {
                        account_data.push(json!({ "type": kind, "content": content }));
                    }
                }
            }
        }
        // Clients read push rules from account data: the stored rules merged with the server's
        // current defaults (the defaults alone until the user changes one), on an initial sync
        // and whenever they changed.
        let rules_changed = since.is_none() || account_data.iter().any(|e| e["type"] == "m.push_rules");
        account_data.retain(|e| e["type"] != "m.push_rules");
        if rules_changed {
            account_data.push(json!({ "type": "m.push_rules", "content": { "global": ruleset } }));
        }
        account_data.retain(|event| request.filter.account_data.events.allows(event));
        let has_news = !account_data.is_empty() || rooms.1;
        let mut body = Response::new(until.to_string());
        body.rooms = rooms.0;
        body.account_data.events = raw_jsons(&account_data)?;
        let shared = self.shared_users(&user.user_id)?;
        let lists = match since {
            Some(since) => self.device_lists_between(&user.user_id, &shared, since, until)?,
            None => DeviceListChanges::default(),
        };
        // Users who start sharing a room come with their current presence, whether or not it
        // changed in the window (spec leaves it open; Synapse does this and Complement's
        // TestSync and TestMembersLocal check it).
        let presence = self.presence_events(&shared, &lists.newly_shared, since, until)?;
        let has_news = has_news || !presence.is_empty();
        body.presence.events = raw_jsons(&presence)?;
        let to_device = self.to_device_for_sync(&user.user_id, &user.device_id, until)?;
        let has_news = has_news || !to_device.is_empty();
        body.to_device.events = raw_jsons(&to_device)?;
        let has_news = has_news || !lists.changed.is_empty() || !lists.left.is_empty();
        let mut device_lists = DeviceLists::new();
        device_lists.changed = lists.changed;
        device_lists.left = lists.left;
        body.device_lists = device_lists;
        body.device_one_time_keys_count = self.one_time_key_counts(&user.user_id, &user.device_id)?;
        body.device_unused_fallback_key_types = Some(self.unused_fallback_key_types(&user.user_id, &user.device_id)?);
        Ok((body, has_news))
    }
}
