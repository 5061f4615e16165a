//! Sliding sync extensions: to-device messages, end-to-end encryption state, account data,
//! receipts, typing and thread subscriptions (MSC4186, MSC3885, MSC3884, MSC3959, MSC3960,
//! MSC3961, MSC4308).
//!
//! Account data, receipts and typing are per room as well as global; each applies to the
//! rooms of the lists and subscriptions it names (`lists`, `rooms`), all of them by default.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use ruma::{
    OwnedRoomId, UInt,
    api::client::{
        sync::sync_events::v5::{
            request::{self, ExtensionRoomConfig},
            response,
        },
        threads::get_thread_subscriptions_changes::unstable::{ThreadSubscription, ThreadUnsubscription},
    },
};
use serde_json::{Value, json};

use super::room::uint;
use crate::{
    AuthedUser, Result, Services,
    raw::{raw_json, raw_jsons},
    rooms::read::parse_token,
};

/// Thread subscription changes sent at most per response when the client names no `limit`.
const DEFAULT_THREAD_SUBSCRIPTIONS: usize = 100;

/// Which rooms this response shows, per list and subscription, for extension scoping.
#[derive(Debug, Default)]
pub(crate) struct Shown {
    /// Rooms in each list's ranges.
    pub lists: BTreeMap<String, BTreeSet<OwnedRoomId>>,
    /// Rooms the client subscribed to.
    pub subscribed: BTreeSet<OwnedRoomId>,
    /// Rooms sent on this connection for the first time in this response, with the ids of
    /// their timeline events: their extension data comes whole, not as changes.
    pub new_to_client: BTreeMap<OwnedRoomId, BTreeSet<String>>,
}

impl Shown {
    /// The rooms an extension with these `lists` and `rooms` settings covers.
    fn scope(&self, lists: Option<&Vec<String>>, rooms: Option<&Vec<ExtensionRoomConfig>>) -> BTreeSet<OwnedRoomId> {
        let mut scope = BTreeSet::new();
        for (name, shown) in &self.lists {
            if lists.is_none_or(|names| names.iter().any(|n| n == "*" || n == name)) {
                scope.extend(shown.iter().cloned());
            }
        }
        match rooms {
            None => scope.extend(self.subscribed.iter().cloned()),
            Some(rooms) => {
                for room in rooms {
                    match room {
                        ExtensionRoomConfig::AllSubscribed => scope.extend(self.subscribed.iter().cloned()),
                        ExtensionRoomConfig::Room(room_id) if self.subscribed.contains(room_id) => {
                            scope.insert(room_id.clone());
                        }
                        _ => {}
                    }
                }
            }
        }
        scope
    }
}

/// The window extensions answer for.
pub(crate) struct ExtensionWindow<'a> {
    pub user: &'a AuthedUser,
    /// The position of the connection's last response (`None`: a new connection).
    pub since: Option<u64>,
    pub until: u64,
    pub shown: &'a Shown,
    /// The user's push rules (sent as `m.push_rules` account data).
    pub ruleset: &'a ruma::push::Ruleset,
    /// Rooms with anything new in `(since, until]` (events, receipts, typing): the others
    /// have no receipt or typing change to send, which spares a read per room.
    pub changed: &'a HashSet<OwnedRoomId>,
}

impl ExtensionWindow<'_> {
    /// Whether the room may have receipts or typing to send: new to the client, or touched.
    fn may_have_news(&self, room_id: &OwnedRoomId) -> bool {
        self.since.is_none() || self.shown.new_to_client.contains_key(room_id) || self.changed.contains(room_id)
    }
}

impl Services {
    /// The extensions' part of a response; the flag says whether any carries news (the
    /// one-time key counts, sent every time, are not news).
    pub(crate) fn sliding_extensions(
        &self,
        asked: &request::Extensions,
        window: &ExtensionWindow<'_>,
    ) -> Result<(response::Extensions, bool)> {
        let mut out = response::Extensions::default();
        let mut news = false;
        if asked.to_device.enabled == Some(true) {
            let to_device = self.sliding_to_device(&asked.to_device, window)?;
            news |= !to_device.events.is_empty();
            out.to_device = Some(to_device);
        }
        if asked.e2ee.enabled == Some(true) {
            out.e2ee = self.sliding_e2ee(window)?;
            news |= !out.e2ee.device_lists.is_empty();
        }
        if asked.account_data.enabled == Some(true) {
            let scope = window
                .shown
                .scope(asked.account_data.lists.as_ref(), asked.account_data.rooms.as_ref());
            out.account_data = self.sliding_account_data(window, &scope)?;
            news |= !out.account_data.is_empty();
        }
        if asked.receipts.enabled == Some(true) {
            let scope = window
                .shown
                .scope(asked.receipts.lists.as_ref(), asked.receipts.rooms.as_ref());
            for room_id in scope.into_iter().filter(|room| window.may_have_news(room)) {
                let new_to_client = window.shown.new_to_client.get(&room_id);
                let since = window.since.filter(|_| new_to_client.is_none());
                let events = self
                    .rooms
                    .receipt_events(&window.user.user_id, &room_id, since, window.until)?;
                // A room new to the client: the receipts of the events it was sent and the
                // user's own, not every receipt the room ever had (as Synapse).
                let keep = |event_id: &str, user: &str| {
                    new_to_client.is_none_or(|ids| ids.contains(event_id) || user == window.user.user_id.as_str())
                };
                if let Some(event) = merge_receipts(events, keep) {
                    out.receipts.rooms.insert(room_id, raw_json(&event)?);
                }
            }
            news |= !out.receipts.is_empty();
        }
        if asked.typing.enabled == Some(true) {
            let scope = window
                .shown
                .scope(asked.typing.lists.as_ref(), asked.typing.rooms.as_ref());
            for room_id in scope.into_iter().filter(|room| window.may_have_news(room)) {
                let since = window
                    .since
                    .filter(|_| !window.shown.new_to_client.contains_key(&room_id));
                if let Some(event) = self.rooms.typing_event(&room_id, since, window.until) {
                    out.typing.rooms.insert(room_id, raw_json(&event)?);
                }
            }
            news |= !out.typing.is_empty();
        }
        if asked.thread_subscriptions.enabled == Some(true) {
            out.thread_subscriptions = self.sliding_thread_subscriptions(&asked.thread_subscriptions, window)?;
            news |= !out.thread_subscriptions.is_empty();
        }
        Ok((out, news))
    }

    /// Deletes the to-device messages the request's `since` acknowledges. Once per request,
    /// before the long-poll: the acknowledgement does not change while it waits.
    pub(crate) fn acknowledge_sliding_to_device(&self, user: &AuthedUser, asked: &request::Extensions) -> Result<()> {
        if asked.to_device.enabled == Some(true)
            && let Some(since) = asked.to_device.since.as_deref()
        {
            self.acknowledge_to_device(&user.user_id, &user.device_id, parse_token(since)?)?;
        }
        Ok(())
    }

    /// Messages for the device, as `/sync` delivers them; the rest stays until a later
    /// request acknowledges it ([`Self::acknowledge_sliding_to_device`]).
    fn sliding_to_device(&self, asked: &request::ToDevice, window: &ExtensionWindow<'_>) -> Result<response::ToDevice> {
        let user = window.user;
        // Past `limit` the rest stays queued, unacknowledged, for the next request.
        let limit = asked.limit.map_or(usize::MAX, |limit| {
            usize::try_from(u64::from(limit)).unwrap_or(usize::MAX)
        });
        let events = self.to_device_upto(&user.user_id, &user.device_id, window.until, limit)?;
        let mut to_device = response::ToDevice::default();
        to_device.next_batch = window.until.to_string();
        to_device.events = raw_jsons(&events)?;
        Ok(to_device)
    }

    /// Device list changes since the last response, and the device's key counts.
    fn sliding_e2ee(&self, window: &ExtensionWindow<'_>) -> Result<response::E2EE> {
        let user = window.user;
        let mut e2ee = response::E2EE::default();
        if let Some(since) = window.since {
            let shared = self.shared_users(&user.user_id)?;
            let lists = self.device_lists_between(&user.user_id, &shared, since, window.until)?;
            e2ee.device_lists.changed = lists.changed;
            e2ee.device_lists.left = lists.left;
        }
        e2ee.device_one_time_keys_count = self.one_time_key_counts(&user.user_id, &user.device_id)?;
        e2ee.device_unused_fallback_key_types = Some(self.unused_fallback_key_types(&user.user_id, &user.device_id)?);
        Ok(e2ee)
    }

    /// Global account data, and that of the rooms in scope: everything on a new connection
    /// (and for rooms new to it), else what changed.
    fn sliding_account_data(
        &self,
        window: &ExtensionWindow<'_>,
        scope: &BTreeSet<OwnedRoomId>,
    ) -> Result<response::AccountData> {
        let user_id = &window.user.user_id;
        let db = self.db();
        let mut global: Vec<Value> = Vec::new();
        let mut rooms: BTreeMap<OwnedRoomId, Vec<Value>> = BTreeMap::new();
        match window.since {
            None => {
                for (kind, content) in db.account_data_in(user_id, None)? {
                    if !crate::account_data::is_deleted(&content) {
                        global.push(json!({ "type": kind, "content": content }));
                    }
                }
            }
            Some(since) => {
                for (room, kind) in db.account_data_changes(user_id, since, window.until)? {
                    let Some(content) = db.get_account_data(user_id, room.as_deref(), &kind)? else {
                        continue;
                    };
                    let event = json!({ "type": kind, "content": content });
                    match room {
                        None => global.push(event),
                        Some(room) if scope.contains(&room) && !window.shown.new_to_client.contains_key(&room) => {
                            rooms.entry(room).or_default().push(event);
                        }
                        Some(_) => {}
                    }
                }
            }
        }
        for room in scope {
            if window.since.is_none() || window.shown.new_to_client.contains_key(room) {
                let events: Vec<Value> = db
                    .account_data_in(user_id, Some(room))?
                    .into_iter()
                    .filter(|(_, content)| !crate::account_data::is_deleted(content))
                    .map(|(kind, content)| json!({ "type": kind, "content": content }))
                    .collect();
                if !events.is_empty() {
                    rooms.insert(room.clone(), events);
                }
            }
        }
        // Push rules as /sync gives them: the stored rules merged with the server's defaults.
        let rules_changed = window.since.is_none() || global.iter().any(|e| e["type"] == "m.push_rules");
        global.retain(|e| e["type"] != "m.push_rules");
        if rules_changed {
            global.push(json!({ "type": "m.push_rules", "content": { "global": window.ruleset } }));
        }
        let mut out = response::AccountData::default();
        out.global = raw_jsons(&global)?;
        for (room, events) in rooms {
            out.rooms.insert(room, raw_jsons(&events)?);
        }
        Ok(out)
    }

    /// Thread subscriptions changed since the last response (MSC4308), newest first, at most
    /// `limit`; `prev_batch` tells the client older changes were left out, to be fetched from
    /// the MSC4308 list endpoint.
    fn sliding_thread_subscriptions(
        &self,
        asked: &request::ThreadSubscriptions,
        window: &ExtensionWindow<'_>,
    ) -> Result<response::ThreadSubscriptions> {
        let limit = asked.limit.map_or(DEFAULT_THREAD_SUBSCRIPTIONS, |l| {
            usize::try_from(u64::from(l)).unwrap_or(usize::MAX)
        });
        let changes = self.thread_subscription_changes(&window.user.user_id, window.since, window.until, limit)?;
        let mut out = response::ThreadSubscriptions::default();
        out.subscribed = changes.subscribed;
        out.unsubscribed = changes.unsubscribed;
        out.prev_batch = changes.older.map(|token| token.to_string());
        Ok(out)
    }

    /// The user's thread subscription changes in `(since, until]`, newest first, at most
    /// `limit`; `older` is the token to page on from when more are left (MSC4308).
    pub fn thread_subscription_changes(
        &self,
        user_id: &ruma::UserId,
        since: Option<u64>,
        until: u64,
        limit: usize,
    ) -> Result<SubscriptionChanges> {
        let changes = self.db().thread_subscriptions_changed(user_id, since, until)?;
        let mut out = SubscriptionChanges::default();
        if changes.len() > limit
            && let Some((_, _, oldest_sent)) = changes.get(limit.saturating_sub(1))
        {
            out.older = Some(oldest_sent.stream_id.saturating_sub(1));
        }
        for (room, root, subscription) in changes.into_iter().take(limit) {
            let stamp: UInt = uint(subscription.stream_id);
            if subscription.subscribed {
                out.subscribed
                    .entry(room)
                    .or_default()
                    .insert(root, ThreadSubscription::new(subscription.automatic, stamp));
            } else {
                out.unsubscribed
                    .entry(room)
                    .or_default()
                    .insert(root, ThreadUnsubscription::new(stamp));
            }
        }
        Ok(out)
    }
}

/// Thread subscription changes of one page (MSC4308).
#[derive(Debug, Default)]
pub struct SubscriptionChanges {
    /// Threads subscribed to, by room and root, with how and when.
    pub subscribed: BTreeMap<OwnedRoomId, BTreeMap<ruma::OwnedEventId, ThreadSubscription>>,
    /// Threads unsubscribed from, by room and root, with when.
    pub unsubscribed: BTreeMap<OwnedRoomId, BTreeMap<ruma::OwnedEventId, ThreadUnsubscription>>,
    /// Where older changes continue, when some were left out.
    pub older: Option<u64>,
}

/// One `m.receipt` event from the per-thread events `/sync` sends: the extension has one
/// event per room. Receipts of different threads on one event merge per user, which loses
/// only a second receipt of the same user and type on the same event.
fn merge_receipts(events: Vec<Value>, keep: impl Fn(&str, &str) -> bool) -> Option<Value> {
    let mut content = serde_json::Map::new();
    for event in events {
        let Value::Object(per_event) = event["content"].clone() else {
            continue;
        };
        for (event_id, kinds) in per_event {
            let slot = content.entry(event_id.clone()).or_insert_with(|| json!({}));
            if let Value::Object(kinds) = kinds {
                for (kind, users) in kinds {
                    if let Value::Object(users) = users {
                        for (user, data) in users {
                            if keep(&event_id, &user) {
                                slot[&kind][&user] = data;
                            }
                        }
                    }
                }
            }
        }
    }
    content.retain(|_, kinds| kinds.as_object().is_some_and(|kinds| !kinds.is_empty()));
    (!content.is_empty()).then(|| json!({ "type": "m.receipt", "content": content }))
}
