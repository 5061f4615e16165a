//! Read receipts (`m.read`, `m.read.private`): the latest per user and type, and their changes
//! in stream order for `/sync`. A receipt change is also a room change in the global stream.

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

fn receipt_key(room_id: &RoomId, user_id: &UserId, kind: &str) -> Vec<u8> {
    KeyBuilder::new()
        .str(room_id.as_str())
        .str(user_id.as_str())
        .str(kind)
        .build()
}

impl Db {
    /// A user's latest receipt of `kind` in a room.
    pub fn get_receipt(&self, room_id: &RoomId, user_id: &UserId, kind: &str) -> Result<Option<Receipt>> {
        self.get_json(ROOMID_USERID_TYPE_RECEIPT, &receipt_key(room_id, user_id, kind))
    }

    /// Queues storing a receipt changed at stream position `count`.
    pub fn put_receipt(
        &self,
        batch: &mut WriteBatch,
        room_id: &RoomId,
        user_id: &UserId,
        kind: &str,
        receipt: &Receipt,
        count: u64,
    ) {
        batch.put(
            ROOMID_USERID_TYPE_RECEIPT,
            receipt_key(room_id, user_id, kind),
            encode(receipt),
        );
        batch.put(
            ROOMID_COUNT_RECEIPTKEY,
            KeyBuilder::new().str(room_id.as_str()).u64(count).build(),
            KeyBuilder::new().str(user_id.as_str()).str(kind).build(),
        );
        batch.put(COUNT_ROOMID, count.to_be_bytes(), room_id.as_bytes());
    }

    /// Every receipt in a room: `(user, type, receipt)`.
    pub fn receipts_of_room(&self, room_id: &RoomId) -> Result<Vec<(OwnedUserId, String, Receipt)>> {
        let prefix = KeyBuilder::new().str(room_id.as_str()).prefix();
        self.scan_json::<Receipt>(ROOMID_USERID_TYPE_RECEIPT, &prefix)?
            .into_iter()
            .map(|(key, receipt)| {
                let (user, kind) = user_and_kind(ROOMID_USERID_TYPE_RECEIPT, &key, true)?;
                Ok((user, kind, receipt))
            })
            .collect()
    }

    /// `(user, type)` pairs whose receipts in a room changed in `(since, until]`.
    pub fn receipts_changed(&self, room_id: &RoomId, since: u64, until: u64) -> Result<Vec<(OwnedUserId, String)>> {
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
            let pair = user_and_kind(ROOMID_COUNT_RECEIPTKEY, &value, false)?;
            if !changed.contains(&pair) {
                changed.push(pair);
            }
        }
        Ok(changed)
    }
}

fn user_and_kind(table: &'static str, bytes: &[u8], skip_room: bool) -> Result<(OwnedUserId, String)> {
    let corrupt = |reason: String| Error::Corrupt { table, reason };
    let mut reader = KeyReader::new(bytes);
    if skip_room {
        reader.str().map_err(|e| corrupt(e.to_string()))?;
    }
    let user =
        OwnedUserId::try_from(reader.str().map_err(|e| corrupt(e.to_string()))?).map_err(|e| corrupt(e.to_string()))?;
    let kind = reader.str().map_err(|e| corrupt(e.to_string()))?.to_owned();
    Ok((user, kind))
}
