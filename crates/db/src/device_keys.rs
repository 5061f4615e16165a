//! End-to-end encryption keys of devices: the signed identity keys, one-time keys (each handed
//! out once) and fallback keys (one per algorithm, handed out when no one-time key is left).

use accord_storage::{
    Direction, WriteBatch,
    codec::{KeyBuilder, KeyReader},
};
use ruma::{DeviceId, UserId};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{
    Db, Error, Result,
    database::{decode, encode},
    tables::{
        USERID_DEVICEID_ALGORITHM_ONETIMEKEYORDER, USERID_DEVICEID_DEVICEKEYS, USERID_DEVICEID_FALLBACKKEY,
        USERID_DEVICEID_ONETIMEKEY,
    },
};

/// A device's fallback key for one algorithm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FallbackKey {
    /// `algorithm:key_id`.
    pub key_id: String,
    /// The signed key object.
    pub key: Value,
    /// Whether it was handed out since it was uploaded.
    pub used: bool,
}

fn device_key(user_id: &UserId, device_id: &DeviceId) -> Vec<u8> {
    KeyBuilder::new().str(user_id.as_str()).str(device_id.as_str()).build()
}

fn device_prefix(user_id: &UserId, device_id: &DeviceId) -> Vec<u8> {
    KeyBuilder::new().str(user_id.as_str()).str(device_id.as_str()).prefix()
}

fn last_part(table: &'static str, key: &[u8]) -> Result<String> {
    let mut reader = KeyReader::new(key);
    let corrupt = |err: accord_storage::codec::CodecError| Error::Corrupt { table, reason: err.0 };
    reader.str().map_err(corrupt)?;
    reader.str().map_err(corrupt)?;
    Ok(reader.str().map_err(corrupt)?.to_owned())
}

/// A stored one-time key, ready to be claimed.
#[derive(Debug, Clone)]
pub struct OneTimeKeyRow {
    /// `algorithm:key_id`.
    pub key_id: String,
    /// The key as uploaded.
    pub key: Value,
    /// Its place in the upload order (none for keys from before the order was kept).
    pub position: Option<u64>,
}

/// The upload-order row of a key: `user, device, algorithm, position, key id`.
fn order_row(user_id: &UserId, device_id: &DeviceId, key_id: &str, position: u64) -> Vec<u8> {
    let algorithm = key_id.split_once(':').map_or(key_id, |(algorithm, _)| algorithm);
    KeyBuilder::new()
        .str(user_id.as_str())
        .str(device_id.as_str())
        .str(algorithm)
        .u64(position)
        .str(key_id)
        .build()
}

/// The position and key id of an upload-order row.
fn order_parts(row: &[u8]) -> Result<(u64, String)> {
    let table = USERID_DEVICEID_ALGORITHM_ONETIMEKEYORDER;
    let corrupt = |err: accord_storage::codec::CodecError| Error::Corrupt { table, reason: err.0 };
    let mut reader = KeyReader::new(row);
    for _ in 0..3 {
        reader.str().map_err(corrupt)?;
    }
    let position = reader.u64().map_err(corrupt)?;
    let key_id = reader.str().map_err(corrupt)?.to_owned();
    Ok((position, key_id))
}

impl Db {
    /// A device's identity keys, if it uploaded them.
    pub fn get_device_keys(&self, user_id: &UserId, device_id: &DeviceId) -> Result<Option<Value>> {
        self.get_json(USERID_DEVICEID_DEVICEKEYS, &device_key(user_id, device_id))
    }

    /// Queues storing a device's identity keys.
    pub fn put_device_keys(&self, batch: &mut WriteBatch, user_id: &UserId, device_id: &DeviceId, keys: &Value) {
        batch.put(USERID_DEVICEID_DEVICEKEYS, device_key(user_id, device_id), encode(keys));
    }

    /// A device's one-time key by `algorithm:key_id`.
    pub fn get_one_time_key(&self, user_id: &UserId, device_id: &DeviceId, key_id: &str) -> Result<Option<Value>> {
        let key = KeyBuilder::new()
            .str(user_id.as_str())
            .str(device_id.as_str())
            .str(key_id)
            .build();
        self.get_json(USERID_DEVICEID_ONETIMEKEY, &key)
    }

    /// Queues storing new one-time keys (`algorithm:key_id` -> key), remembering the order
    /// they came in: after every key of the device uploaded before, in the order given.
    pub fn put_one_time_keys(
        &self,
        batch: &mut WriteBatch,
        user_id: &UserId,
        device_id: &DeviceId,
        keys: &[(String, Value)],
    ) -> Result<()> {
        let first = self.next_one_time_key_position(user_id, device_id)?;
        for (position, (key_id, value)) in (first..).zip(keys) {
            let row = KeyBuilder::new()
                .str(user_id.as_str())
                .str(device_id.as_str())
                .str(key_id)
                .build();
            batch.put(USERID_DEVICEID_ONETIMEKEY, row, encode(value));
            batch.put(
                USERID_DEVICEID_ALGORITHM_ONETIMEKEYORDER,
                order_row(user_id, device_id, key_id, position),
                Vec::new(),
            );
        }
        Ok(())
    }

    /// The position after the last one-time key the device uploaded (any algorithm).
    fn next_one_time_key_position(&self, user_id: &UserId, device_id: &DeviceId) -> Result<u64> {
        let mut last = None;
        for item in self.engine().iter_prefix(
            USERID_DEVICEID_ALGORITHM_ONETIMEKEYORDER,
            &device_prefix(user_id, device_id),
            Direction::Forward,
        )? {
            let (key, _) = item?;
            let (position, _) = order_parts(&key)?;
            last = last.max(Some(position));
        }
        Ok(last.map_or(0, |position| position + 1))
    }

    /// Queues deleting a claimed one-time key (and its place in the upload order).
    pub fn delete_one_time_key(
        &self,
        batch: &mut WriteBatch,
        user_id: &UserId,
        device_id: &DeviceId,
        key: &OneTimeKeyRow,
    ) {
        let row = KeyBuilder::new()
            .str(user_id.as_str())
            .str(device_id.as_str())
            .str(&key.key_id)
            .build();
        batch.delete(USERID_DEVICEID_ONETIMEKEY, row);
        if let Some(position) = key.position {
            batch.delete(
                USERID_DEVICEID_ALGORITHM_ONETIMEKEYORDER,
                order_row(user_id, device_id, &key.key_id, position),
            );
        }
    }

    /// The ids (`algorithm:key_id`) of a device's one-time keys, without reading the keys
    /// (`/sync` counts them on every call).
    pub fn one_time_key_ids(&self, user_id: &UserId, device_id: &DeviceId) -> Result<Vec<String>> {
        self.engine()
            .iter_prefix(
                USERID_DEVICEID_ONETIMEKEY,
                &device_prefix(user_id, device_id),
                Direction::Forward,
            )?
            .map(|item| last_part(USERID_DEVICEID_ONETIMEKEY, &item?.0))
            .collect()
    }

    /// A device's oldest one-time key of `algorithm` (by upload order; keys from before the
    /// order was kept come last, by key id).
    pub fn first_one_time_key(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        algorithm: &str,
    ) -> Result<Option<OneTimeKeyRow>> {
        let ordered = KeyBuilder::new()
            .str(user_id.as_str())
            .str(device_id.as_str())
            .str(algorithm)
            .prefix();
        for item in
            self.engine()
                .iter_prefix(USERID_DEVICEID_ALGORITHM_ONETIMEKEYORDER, &ordered, Direction::Forward)?
        {
            let (row, _) = item?;
            let (position, key_id) = order_parts(&row)?;
            if let Some(key) = self.get_one_time_key(user_id, device_id, &key_id)? {
                return Ok(Some(OneTimeKeyRow {
                    key_id,
                    key,
                    position: Some(position),
                }));
            }
        }
        let mut prefix = device_prefix(user_id, device_id);
        prefix.extend_from_slice(format!("{algorithm}:").as_bytes());
        let mut keys = self
            .engine()
            .iter_prefix(USERID_DEVICEID_ONETIMEKEY, &prefix, Direction::Forward)?;
        match keys.next() {
            Some(item) => {
                let (key, value) = item?;
                Ok(Some(OneTimeKeyRow {
                    key_id: last_part(USERID_DEVICEID_ONETIMEKEY, &key)?,
                    key: decode(USERID_DEVICEID_ONETIMEKEY, &value)?,
                    position: None,
                }))
            }
            None => Ok(None),
        }
    }

    /// A device's fallback keys, by algorithm.
    pub fn fallback_keys(&self, user_id: &UserId, device_id: &DeviceId) -> Result<Vec<(String, FallbackKey)>> {
        self.scan_json(USERID_DEVICEID_FALLBACKKEY, &device_prefix(user_id, device_id))?
            .into_iter()
            .map(|(key, value)| Ok((last_part(USERID_DEVICEID_FALLBACKKEY, &key)?, value)))
            .collect()
    }

    /// Queues storing the fallback key for `algorithm`.
    pub fn put_fallback_key(
        &self,
        batch: &mut WriteBatch,
        user_id: &UserId,
        device_id: &DeviceId,
        algorithm: &str,
        key: &FallbackKey,
    ) {
        let row = KeyBuilder::new()
            .str(user_id.as_str())
            .str(device_id.as_str())
            .str(algorithm)
            .build();
        batch.put(USERID_DEVICEID_FALLBACKKEY, row, encode(key));
    }

    /// Queues deleting every key of a device (it logged out or was deleted).
    pub fn delete_device_e2ee_keys(
        &self,
        batch: &mut WriteBatch,
        user_id: &UserId,
        device_id: &DeviceId,
    ) -> Result<()> {
        batch.delete(USERID_DEVICEID_DEVICEKEYS, device_key(user_id, device_id));
        let prefix = device_prefix(user_id, device_id);
        for table in [
            USERID_DEVICEID_ONETIMEKEY,
            USERID_DEVICEID_ALGORITHM_ONETIMEKEYORDER,
            USERID_DEVICEID_FALLBACKKEY,
        ] {
            for item in self.engine().iter_prefix(table, &prefix, Direction::Forward)? {
                let (key, _) = item?;
                batch.delete(table, key);
            }
        }
        Ok(())
    }
}
