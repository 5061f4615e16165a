//! Building a service's next transaction (spec: `PUT /_matrix/app/v1/transactions/{txnId}`):
//! the events it is interested in from where it got to in the global stream, the receipts and
//! typing of those rooms (MSC2409, when it asked for ephemeral events), and its queued
//! to-device messages.

use std::collections::BTreeSet;

use accord_core::appservice::Registration;
use accord_db::{AppserviceProgress, PendingTransaction};
use ruma::{OwnedRoomId, OwnedTransactionId, OwnedUserId, api::OutgoingRequestExt};
use serde_json::Value;

use super::{interest::RoomInterest, msc3202::DeviceInfo};
use crate::{Error, Result, Services, raw::raw_jsons};

/// Events per transaction, as Synapse caps them.
const MAX_EVENTS: usize = 100;

/// To-device messages per transaction, as Synapse caps them.
const MAX_TO_DEVICE: usize = 100;

/// Stream positions read per page while looking for interesting events.
const PAGE: usize = 1000;

/// A transaction ready to be recorded, and what recording it moves on.
#[derive(Debug)]
pub(super) struct Built {
    /// The transaction; `None` when nothing in the range concerns the service.
    pub transaction: Option<PendingTransaction>,
    /// The progress once it is recorded.
    pub progress: AppserviceProgress,
    /// The to-device rows it carries, deleted from the queue when it is recorded.
    pub to_device_keys: Vec<Vec<u8>>,
    /// Local users it names (senders and membership targets) that have no account: the
    /// service is asked about them (user query) before it is sent.
    pub unknown_users: Vec<OwnedUserId>,
}

impl Services {
    /// The next transaction of `registration` from `progress`.
    pub(super) fn build_appservice_txn(
        &self,
        registration: &Registration,
        progress: AppserviceProgress,
    ) -> Result<Built> {
        let db = self.db();
        let visible = db.visible_count();
        let mut interest = RoomInterest::default();
        let mut events = Vec::new();
        let mut rooms = BTreeSet::new();
        let mut named_users = BTreeSet::new();
        let mut reached = progress.stream;
        'pages: while reached < visible {
            let positions = db.stream_positions(reached, visible, PAGE)?;
            if positions.is_empty() {
                reached = visible;
                break;
            }
            let full_page = positions.len() == PAGE;
            for (count, room_id) in positions {
                if events.len() == MAX_EVENTS {
                    break 'pages;
                }
                reached = count;
                rooms.insert(room_id.clone());
                let Some(short) = db.timeline_entry(&room_id, count)? else {
                    continue;
                };
                let meta = db.event_meta(short)?;
                if meta.rejected || meta.soft_failed {
                    continue;
                }
                let Some(pdu) = self.rooms.rooms().pdu(short)? else {
                    continue;
                };
                if !interest.event(self, registration, &pdu)? {
                    continue;
                }
                named_users.insert(pdu.sender.clone());
                named_users.extend(pdu.member_change().map(|(user, _)| user));
                if let Some(event) = self.rooms.render_for_appservice(short)? {
                    events.push(event);
                }
            }
            if !full_page {
                reached = visible;
            }
        }

        // Each user once: a bridge's own users send most of its events.
        let mut unknown_users = Vec::new();
        for user in &named_users {
            if user.server_name() == self.config.server_name
                && *user != registration.sender
                && registration.may_act_as(user)
                && db.get_account(user)?.is_none()
            {
                unknown_users.push(user.clone());
            }
        }

        let mut ephemeral = Vec::new();
        let mut to_device = Vec::new();
        let mut to_device_keys = Vec::new();
        if registration.receive_ephemeral {
            ephemeral = self.appservice_ephemeral(registration, &rooms, &mut interest, progress.stream, reached)?;
            for (key, message) in db.appservice_to_device(&registration.id, MAX_TO_DEVICE)? {
                if let Some(user) = message["to_user_id"]
                    .as_str()
                    .and_then(|u| OwnedUserId::try_from(u).ok())
                {
                    named_users.insert(user);
                }
                to_device_keys.push(key);
                to_device.push(message);
            }
        }
        let device_info = if registration.msc3202 {
            Some(self.appservice_device_info(registration, &mut interest, &named_users, progress.stream, reached)?)
        } else {
            None
        };
        let devices_changed = device_info.as_ref().is_some_and(|info| !info.changed.is_empty());

        let mut next = progress;
        next.stream = reached;
        let transaction = if events.is_empty() && ephemeral.is_empty() && to_device.is_empty() && !devices_changed {
            None
        } else {
            let txn_id = next.next_txn_id;
            next.next_txn_id += 1;
            let sizes = (events.len(), ephemeral.len(), to_device.len());
            let body = transaction_body(registration, txn_id, events, ephemeral, to_device, device_info)?;
            Some(PendingTransaction { txn_id, body, sizes })
        };
        Ok(Built {
            transaction,
            progress: next,
            to_device_keys,
            unknown_users,
        })
    }

    /// Receipts and typing changed in `(since, until]` in the rooms of the range that the
    /// service is interested in, each with its `room_id` (bridges drop ephemeral events
    /// without one), and the presence changes of users it is interested in (its own, and
    /// those joined to its rooms). Private receipts are never sent: they are no one's but
    /// their owner's.
    fn appservice_ephemeral(
        &self,
        registration: &Registration,
        rooms: &BTreeSet<OwnedRoomId>,
        interest: &mut RoomInterest,
        since: u64,
        until: u64,
    ) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        for room_id in rooms {
            if !interest.room(self, registration, room_id)? {
                continue;
            }
            let mut room_events = self
                .rooms
                .receipt_events(&registration.sender, room_id, Some(since), until)?;
            room_events.extend(self.rooms.typing_event(room_id, Some(since), until));
            for mut event in room_events {
                let is_receipt = event["type"] == "m.receipt";
                if let Some(content) = event.get_mut("content").and_then(Value::as_object_mut) {
                    for receipts in content.values_mut().filter_map(Value::as_object_mut) {
                        receipts.remove(crate::rooms::receipts::READ_PRIVATE);
                    }
                    content.retain(|_, receipts| receipts.as_object().is_none_or(|r| !r.is_empty()));
                    if is_receipt && content.is_empty() {
                        continue;
                    }
                }
                event["room_id"] = Value::String(room_id.to_string());
                out.push(event);
            }
        }
        let db = self.db();
        for user in db.presence_changes(since, until)? {
            if interest.user(self, registration, &user)? {
                let record = db.get_presence(&user)?;
                let content = crate::presence::presence_content(record.as_ref());
                out.push(serde_json::json!({ "type": "m.presence", "sender": user, "content": content }));
            }
        }
        Ok(out)
    }
}

/// The body of a transaction, serialized by ruma's type, plus the unstable MSC2409 name of
/// the ephemeral list, which Synapse sends to services that registered with the unstable
/// `de.sorunome.msc2409.push_ephemeral` and which older bridges read.
fn transaction_body(
    registration: &Registration,
    txn_id: u64,
    events: Vec<Value>,
    ephemeral: Vec<Value>,
    to_device: Vec<Value>,
    device_info: Option<DeviceInfo>,
) -> Result<Value> {
    let mut request = ruma::api::appservice::event::push_events::v1::Request::new(
        OwnedTransactionId::from(txn_id.to_string()),
        raw_jsons(&events)?,
    );
    request.ephemeral = raw_jsons(&ephemeral)?;
    request.to_device = raw_jsons(&to_device)?;
    if let Some(info) = device_info {
        request.device_lists.changed = info.changed;
        request.device_one_time_keys_count = info.otk_counts;
        request.device_unused_fallback_key_types = info.fallback_types;
    }
    let http = request
        .try_into_http_request::<Vec<u8>>("http://appservice", &registration.hs_token, ())
        .map_err(|err| Error::Internal(format!("transaction not serializable: {err}")))?;
    let mut body: Value = serde_json::from_slice(http.body())
        .map_err(|err| Error::Internal(format!("transaction body not JSON: {err}")))?;
    // Ruma leaves an empty list out; Synapse always sends it to services that asked for it.
    if registration.receive_ephemeral
        && let Some(object) = body.as_object_mut()
    {
        let list = object
            .entry("ephemeral")
            .or_insert_with(|| Value::Array(Vec::new()))
            .clone();
        object.insert("de.sorunome.msc2409.ephemeral".to_owned(), list);
    }
    // Synapse sends the counts under both names MSC3202 used; bridges read either.
    if let Some(object) = body.as_object_mut()
        && let Some(counts) = object.get("org.matrix.msc3202.device_one_time_keys_count").cloned()
    {
        object.insert("org.matrix.msc3202.device_one_time_key_counts".to_owned(), counts);
    }
    Ok(body)
}
