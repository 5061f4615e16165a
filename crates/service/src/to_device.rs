//! Send-to-device messaging (spec: client-server "Send-to-Device messaging", server-server
//! "Send-to-device messaging"). A send is idempotent per device and transaction id; messages
//! for local devices are queued at one stream position, those for other servers go as one
//! `m.direct_to_device` EDU per server into the durable EDU queue, all in one batch. `/sync`
//! delivers a device's queue until the device acknowledges it with a later `since`.

use std::collections::BTreeMap;

use accord_core::time::now_millis;
use accord_db::{PartialDelivery, ToDeviceMessage};
use ruma::{
    DeviceId, OwnedServerName, OwnedTransactionId, OwnedUserId, ServerName, UserId,
    api::federation::transactions::edu::{DirectDeviceContent, DirectDeviceMessages, Edu},
    events::ToDeviceEventType,
    to_device::DeviceIdOrAllDevices,
};
use serde_json::{Value, json};

use crate::{AuthedUser, Error, Result, Services, edu_json};

/// Most to-device messages in one `/sync` response (the rest come in the next ones).
const MAX_PER_SYNC: usize = 100;
/// How long a remote message id is remembered to drop a retried transaction's duplicate.
const REMOTE_ID_RETENTION_MS: u64 = 7 * 24 * 60 * 60 * 1000;

/// Messages by recipient user, then device id or `*` for all of their devices (the same
/// shape in the client-server request and the server-server EDU).
pub type ToDeviceMessages = DirectDeviceMessages;

/// A queued message as clients receive it.
pub(crate) fn to_device_event(message: &ToDeviceMessage) -> Value {
    json!({ "sender": message.sender, "type": message.kind, "content": message.content })
}

impl Services {
    /// `PUT /sendToDevice/{eventType}/{txnId}`.
    pub fn send_to_device(
        &self,
        user: &AuthedUser,
        event_type: &ToDeviceEventType,
        txn_id: &str,
        messages: ToDeviceMessages,
    ) -> Result<()> {
        let db = self.db();
        if db.to_device_txn_seen(&user.user_id, &user.device_id, txn_id)? {
            return Ok(());
        }
        let mut local: Vec<(OwnedUserId, DeviceIdOrAllDevices, Value)> = Vec::new();
        let mut remote: BTreeMap<OwnedServerName, ToDeviceMessages> = BTreeMap::new();
        for (recipient, by_device) in messages {
            if recipient.server_name() == self.config.server_name {
                for (device, content) in by_device {
                    let content = content
                        .deserialize_as::<Value>()
                        .map_err(|err| Error::bad_json(format!("Invalid message for {recipient}: {err}")))?;
                    local.push((recipient.clone(), device, content));
                }
            } else {
                remote
                    .entry(recipient.server_name().to_owned())
                    .or_default()
                    .insert(recipient, by_device);
            }
        }
        if !remote.is_empty() && self.federation.is_none() {
            return Err(Error::forbidden(
                "Federation is disabled on this server, so messages to other servers cannot be sent",
            ));
        }
        if let Some(federation) = &self.federation
            && let Some(server) = remote.keys().find(|server| !federation.allows(server))
        {
            return Err(Error::forbidden(format!(
                "{server} is not among the servers this one federates with"
            )));
        }
        let mut local_targets = Vec::new();
        for (recipient, device, content) in local {
            for device_id in self.target_devices(&recipient, &device)? {
                local_targets.push((recipient.clone(), device_id, content.clone()));
            }
        }
        let sender = &user.user_id;
        let message_id = OwnedTransactionId::from(format!("{}-{}", user.device_id, txn_id));
        let mut remote_edus = Vec::with_capacity(remote.len());
        for (server, messages) in remote {
            let mut content = DirectDeviceContent::new(sender.clone(), event_type.clone(), message_id.clone());
            content.messages = messages;
            remote_edus.push((server, edu_json(&Edu::DirectToDevice(content))?));
        }
        let appservices = self.to_device_for_appservices();
        let mut for_appservices = false;
        db.write_at_next_count(|batch, count| {
            for (recipient, device_id, content) in &local_targets {
                let message = ToDeviceMessage {
                    sender: sender.clone(),
                    kind: event_type.to_string(),
                    content: content.clone(),
                };
                db.put_to_device(batch, recipient, device_id, count, &message);
                for_appservices |= appservices.queue(db, batch, count, (recipient, device_id), &message);
            }
            for (server, edu) in &remote_edus {
                db.queue_durable_edu(batch, server, edu);
            }
            db.put_to_device_txn(batch, sender, &user.device_id, txn_id);
        })?;
        if for_appservices {
            self.appservices.wake();
        }
        if !remote_edus.is_empty()
            && let Some(federation) = &self.federation
        {
            federation.wake_sender();
        }
        Ok(())
    }

    /// The devices a message addressed to `device` (an id, or `*`) of local `user_id` goes to,
    /// a dehydrated device included. Unknown devices get nothing.
    fn target_devices(&self, user_id: &UserId, device: &DeviceIdOrAllDevices) -> Result<Vec<ruma::OwnedDeviceId>> {
        Ok(self
            .db()
            .devices(user_id)?
            .into_iter()
            .map(|(device_id, _)| device_id)
            .filter(|device_id| match device {
                DeviceIdOrAllDevices::AllDevices => true,
                DeviceIdOrAllDevices::DeviceId(wanted) => device_id == wanted,
            })
            .collect())
    }

    /// An `m.direct_to_device` EDU from `origin`: queued for the local recipients, once per
    /// message id even if the transaction is retried.
    pub fn receive_to_device_edu(&self, origin: &ServerName, content: &DirectDeviceContent) -> Result<()> {
        let (sender, kind, message_id) = (
            &content.sender,
            content.ev_type.to_string(),
            content.message_id.as_str(),
        );
        if sender.server_name() != origin {
            tracing::info!(%origin, %sender, "to-device EDU for another server's user dropped");
            return Ok(());
        }
        let db = self.db();
        if db.remote_to_device_seen(sender, message_id)? {
            return Ok(());
        }
        let mut targets = Vec::new();
        for (recipient, by_device) in &content.messages {
            if recipient.server_name() != self.config.server_name {
                continue;
            }
            for (device, message) in by_device {
                let Ok(message) = message.deserialize_as::<Value>() else {
                    continue;
                };
                for device_id in self.target_devices(recipient, device)? {
                    targets.push((recipient.clone(), device_id, message.clone()));
                }
            }
        }
        let appservices = self.to_device_for_appservices();
        let mut for_appservices = false;
        db.write_at_next_count(|batch, count| {
            for (recipient, device_id, message) in &targets {
                let message = ToDeviceMessage {
                    sender: sender.clone(),
                    kind: kind.clone(),
                    content: message.clone(),
                };
                db.put_to_device(batch, recipient, device_id, count, &message);
                for_appservices |= appservices.queue(db, batch, count, (recipient, device_id), &message);
            }
            db.put_remote_to_device_seen(batch, sender, message_id, now_millis());
        })?;
        if for_appservices {
            self.appservices.wake();
        }
        Ok(())
    }

    /// Deletes what a device acknowledged by syncing with `since` (once per `/sync`). After a
    /// partial delivery, its token covers only what that delivery carried.
    pub(crate) fn acknowledge_to_device(&self, user_id: &UserId, device_id: &DeviceId, since: u64) -> Result<()> {
        let db = self.db();
        let partial = db.get_partial_delivery(user_id, device_id)?;
        let acknowledged = partial.map_or(since, |p| since.min(p.upto));
        Ok(db.delete_to_device_upto(user_id, device_id, acknowledged)?)
    }

    /// The `to_device` events of one `/sync` of a device: up to [`MAX_PER_SYNC`] messages at
    /// or below `until`, recording a partial delivery when more are left.
    pub(crate) fn to_device_for_sync(&self, user_id: &UserId, device_id: &DeviceId, until: u64) -> Result<Vec<Value>> {
        self.to_device_upto(user_id, device_id, until, MAX_PER_SYNC)
    }

    /// [`Self::to_device_for_sync`] with at most `limit` messages (sliding sync's `limit`,
    /// never above [`MAX_PER_SYNC`]).
    pub(crate) fn to_device_upto(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        until: u64,
        limit: usize,
    ) -> Result<Vec<Value>> {
        let limit = limit.clamp(1, MAX_PER_SYNC);
        let db = self.db();
        let partial = db.get_partial_delivery(user_id, device_id)?;
        let messages = db.to_device_messages(user_id, device_id, until, limit + 1)?;
        let more_left = messages.len() > limit;
        let delivered = &messages[..messages.len().min(limit)];
        let now_partial = match (more_left, delivered.last()) {
            (true, Some((upto, _))) => Some(PartialDelivery {
                token: until,
                upto: *upto,
            }),
            _ => None,
        };
        if now_partial != partial {
            db.set_partial_delivery(user_id, device_id, now_partial)?;
        }
        Ok(delivered.iter().map(|(_, message)| to_device_event(message)).collect())
    }

    /// Forgets old remote message ids (run now and then).
    pub fn prune_to_device_ids(&self) -> Result<usize> {
        Ok(self
            .db()
            .prune_remote_to_device_seen(now_millis().saturating_sub(REMOTE_ID_RETENTION_MS))?)
    }
}
