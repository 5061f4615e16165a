//! Read receipts across servers: public `m.read` receipts of local users go to every other
//! server in the room as `m.receipt` EDUs, with their `thread_id`; receipts from other servers
//! are applied for their own users who are joined here, in rooms whose ACL admits the origin.

use accord_core::time::now_millis;
use ruma::events::room::member::MembershipState;
use std::collections::BTreeMap;

use ruma::{
    EventId, MilliSecondsSinceUnixEpoch, RoomId, ServerName,
    api::federation::transactions::edu::{Edu, ReceiptContent, ReceiptData, ReceiptMap},
    events::receipt::Receipt,
};

use accord_db::rooms::ReceiptSlot;

use crate::{
    AuthedUser, Result, Services,
    rooms::receipts::{READ, receipt_slot, thread_of_slot},
};

impl Services {
    /// Sets a receipt (`m.read`, `m.read.private`): the user's pushers get their new badge, and
    /// public receipts are also sent to other servers.
    pub fn set_receipt_anywhere(
        &self,
        user: &AuthedUser,
        room_id: &RoomId,
        slot: &ReceiptSlot,
        event_id: &EventId,
    ) -> Result<()> {
        self.rooms.set_receipt(user, room_id, slot, event_id)?;
        self.push.read_receipt_moved(&user.user_id);
        if slot.kind != READ {
            return Ok(());
        }
        if let Some(federation) = &self.federation {
            let mut data = Receipt::new(MilliSecondsSinceUnixEpoch::now());
            data.thread = thread_of_slot(slot);
            let receipt = ReceiptData::new(data, vec![event_id.to_owned()]);
            let by_user = ReceiptMap::new(BTreeMap::from([(user.user_id.clone(), receipt)]));
            let edu = Edu::Receipt(ReceiptContent::new(BTreeMap::from([(room_id.to_owned(), by_user)])));
            for server in self.rooms.rooms().remote_servers(room_id, &[MembershipState::Join])? {
                federation.queue_edu(&server, &edu);
            }
        }
        Ok(())
    }

    /// An `m.receipt` EDU from `origin`. Anything malformed or not `origin`'s is ignored.
    pub fn receive_receipt_edu(&self, origin: &ServerName, content: &ReceiptContent) {
        for (room_id, by_type) in &content.receipts {
            let admitted = self
                .rooms
                .rooms()
                .server_allowed_in_room(room_id, origin)
                .unwrap_or(false);
            if !admitted {
                continue;
            }
            for (user_id, receipt) in &by_type.read {
                if user_id.server_name() != origin {
                    continue;
                }
                let ts = receipt.data.ts.map_or_else(now_millis, |ts| u64::from(ts.get()));
                let Ok(slot) = receipt_slot(READ, &receipt.data.thread) else {
                    continue;
                };
                // Spec: `event_ids` lists the event(s) read; the last known one counts.
                for event_id in &receipt.event_ids {
                    if let Err(err) = self.rooms.apply_remote_receipt(room_id, user_id, &slot, event_id, ts) {
                        tracing::debug!(%origin, %err, "remote receipt not applied");
                    }
                }
            }
        }
    }
}
