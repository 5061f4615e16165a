//! Read receipts (`m.read`, `m.read.private`): the latest per user, type and thread, and their
//! changes in stream order for `/sync`. A receipt change is also a room change in the global
//! stream.
//!
//! An unthreaded receipt is keyed `room/user/type`; a threaded one (spec "Threaded read
//! receipts": `main` or a thread root's event ID) adds the thread as a fourth part, so rows
//! written before threads were kept read back as unthreaded.

use accord_storage::{
    Direction, WriteBatch,
    codec::{KeyBuilder, KeyReader},
};
use ruma::{OwnedEventId, OwnedUserId, RoomId, UserId};
use serde::{Deserialize, Serialize};

use crate::{
    Db, Error, Result,
    database::encode,
    tables::{COUNT_ROOMID, ROOMID_COUNT_RECEIPTKEY, ROOMID_USERID_TYPE_RECEIPT},
};

/// One user's latest receipt of one type in a room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The event read up to.
    pub event_id: OwnedEventId,
    /// That event's stream position (receipts only move forward).
    pub event_count: u64,
    /// When the receipt was sent, ms since the epoch.
    pub ts: u64,
}

/// Which receipt of a user in a room: its type and thread (`None`: unthreaded).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReceiptSlot {
    /// `m.read` or `m.read.private`.
    pub kind: String,
    /// `main`, a thread root's event ID, or `None` for an unthreaded receipt.
    pub thread: Option<String>,
}

impl ReceiptSlot {
    /// An unthreaded receipt of `kind`.
    pub fn unthreaded(kind: &str) -> Self {
        Self {
            kind: kind.to_owned(),
            thread: None,
        }
    }

    fn append_to(&self, key: KeyBuilder) -> KeyBuilder {
        let key = key.str(&self.kind);
        match &self.thread {
            Some(thread) => key.str(thread),
            None => key,
        }
    }
}

fn receipt_key(room_id: &RoomId, user_id: &UserId, slot: &ReceiptSlot) -> Vec<u8> {
    slot.append_to(KeyBuilder::new().str(room_id.as_str()).str(user_id.as_str()))
        .build()
}

impl Db {
    /// A user's latest receipt in one slot of a room.
    pub fn get_receipt(&self, room_id: &RoomId, user_id: &UserId, slot: &ReceiptSlot) -> Result<Option<Receipt>> {
        self.get_json(ROOMID_USERID_TYPE_RECEIPT, &receipt_key(room_id, user_id, slot))
    }

    /// Every receipt of one user in a room: `(slot, receipt)`.
    pub fn receipts_of_user(&self, room_id: &RoomId, user_id: &UserId) -> Result<Vec<(ReceiptSlot, Receipt)>> {
        let prefix = KeyBuilder::new().str(room_id.as_str()).str(user_id.as_str()).prefix();
        self.scan_json::<Receipt>(ROOMID_USERID_TYPE_RECEIPT, &prefix)?
            .into_iter()
            .map(|(key, receipt)| {
                let (_, slot) = user_and_slot(ROOMID_USERID_TYPE_RECEIPT, &key, true)?;
                Ok((slot, receipt))
            })
            .collect()
    }

    /// Queues storing a receipt changed at stream position `count`.
    pub fn put_receipt(
        &self,
        batch: &mut WriteBatch,
        room_id: &RoomId,
        user_id: &UserId,
        slot: &ReceiptSlot,
        receipt: &Receipt,
        count: u64,
    ) {
        batch.put(
            ROOMID_USERID_TYPE_RECEIPT,
            receipt_key(room_id, user_id, slot),
            encode(receipt),
        );
        batch.put(
            ROOMID_COUNT_RECEIPTKEY,
            KeyBuilder::new().str(room_id.as_str()).u64(count).build(),
            slot.append_to(KeyBuilder::new().str(user_id.as_str())).build(),
        );
        batch.put(COUNT_ROOMID, count.to_be_bytes(), room_id.as_bytes());
    }

    /// Every receipt in a room: `(user, slot, receipt)`.
    pub fn receipts_of_room(&self, room_id: &RoomId) -> Result<Vec<(OwnedUserId, ReceiptSlot, Receipt)>> {
        let prefix = KeyBuilder::new().str(room_id.as_str()).prefix();
        self.scan_json::<Receipt>(ROOMID_USERID_TYPE_RECEIPT, &prefix)?
            .into_iter()
            .map(|(key, receipt)| {
                let (user, slot) = user_and_slot(ROOMID_USERID_TYPE_RECEIPT, &key, true)?;
                Ok((user, slot, receipt))
            })
            .collect()
    }

    /// `(user, slot)` pairs whose receipts in a room changed in `(since, until]`.
    pub fn receipts_changed(
        &self,
        room_id: &RoomId,
        since: u64,
        until: u64,
    ) -> Result<Vec<(OwnedUserId, ReceiptSlot)>> {
        let prefix = KeyBuilder::new().str(room_id.as_str()).prefix();
        let start = KeyBuilder::new()
            .str(room_id.as_str())
            .u64(since.saturating_add(1))
            .build();
        let mut changed = Vec::new();
        for item in self
            .engine()
            .iter_from(ROOMID_COUNT_RECEIPTKEY, Some(&start), Direction::Forward)?
        {
            let (key, value) = item?;
            if !key.starts_with(&prefix) {
                break;
            }
            let mut reader = KeyReader::new(&key);
            let corrupt = |e: accord_storage::codec::CodecError| Error::Corrupt {
                table: ROOMID_COUNT_RECEIPTKEY,
                reason: e.to_string(),
            };
            reader.str().map_err(corrupt)?;
            if reader.u64().map_err(corrupt)? > until {
                break;
            }
            let pair = user_and_slot(ROOMID_COUNT_RECEIPTKEY, &value, false)?;
            if !changed.contains(&pair) {
                changed.push(pair);
            }
        }
        Ok(changed)
    }
}

/// Reads `[room/]user/type[/thread]`.
fn user_and_slot(table: &'static str, bytes: &[u8], skip_room: bool) -> Result<(OwnedUserId, ReceiptSlot)> {
    let corrupt = |reason: String| Error::Corrupt { table, reason };
    let mut reader = KeyReader::new(bytes);
    if skip_room {
        reader.str().map_err(|e| corrupt(e.to_string()))?;
    }
    let user =
        OwnedUserId::try_from(reader.str().map_err(|e| corrupt(e.to_string()))?).map_err(|e| corrupt(e.to_string()))?;
    let kind = reader.str().map_err(|e| corrupt(e.to_string()))?.to_owned();
    // A fourth part, when there is one, is the thread.
    let thread = reader.clone().finish().is_err().then(|| reader.str()).transpose();
    let thread = thread.map_err(|e| corrupt(e.to_string()))?.map(str::to_owned);
    Ok((user, ReceiptSlot { kind, thread }))
}
