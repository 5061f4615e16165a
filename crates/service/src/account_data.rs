//! Account data a client stores for its user, globally or per room; room tags are the
//! per-room `m.tag` event.

use accord_db::Db;
use ruma::{RoomId, UserId};
use serde_json::{Map, Value};

use crate::{Error, Result};

/// Types the server manages itself; clients get 405 `M_BAD_JSON` when setting them directly.
const SERVER_MANAGED: &[&str] = &["m.fully_read", "m.push_rules"];

/// The room account data event holding a room's tags.
const TAG_EVENT: &str = "m.tag";

/// Whether stored content marks a deleted event (MSC3391: deletion is the empty object).
pub(crate) fn is_deleted(content: &Value) -> bool {
    content.as_object().is_some_and(Map::is_empty)
}

/// Account data reads and writes.
#[derive(Clone, Debug)]
pub struct AccountData {
    db: Db,
}

fn only_own(caller: &UserId, target: &UserId) -> Result<()> {
    if caller == target {
        Ok(())
    } else {
        Err(Error::forbidden("Cannot access account data of other users"))
    }
}

impl AccountData {
    pub(crate) fn new(db: Db) -> Self {
        Self { db }
    }

    /// One account data event's content; `M_NOT_FOUND` when unset or deleted (an empty
    /// object is a deletion, MSC3391).
    pub fn get(&self, caller: &UserId, target: &UserId, room_id: Option<&RoomId>, kind: &str) -> Result<Value> {
        only_own(caller, target)?;
        self.db
            .get_account_data(target, room_id, kind)?
            .filter(|content| !is_deleted(content))
            .ok_or_else(|| Error::not_found(format!("No account data of type {kind}")))
    }

    /// Deletes one account data event (MSC3391): stored as the empty object at a new stream
    /// position, so incremental syncs tell the user's other devices (`content: {}`), while
    /// reads answer 404 and initial syncs leave it out. Server-managed types are refused.
    pub fn delete(&self, caller: &UserId, target: &UserId, room_id: Option<&RoomId>, kind: &str) -> Result<()> {
        self.set(caller, target, room_id, kind, Value::Object(Map::new()))
    }

    /// Sets one account data event. Server-managed types are refused (the api layer answers 405).
    pub fn set(
        &self,
        caller: &UserId,
        target: &UserId,
        room_id: Option<&RoomId>,
        kind: &str,
        content: Value,
    ) -> Result<()> {
        only_own(caller, target)?;
        if SERVER_MANAGED.contains(&kind) {
            return Err(Error::bad_json(format!("Cannot set {kind} through this API")));
        }
        if !content.is_object() {
            return Err(Error::bad_json("Account data content must be a JSON object"));
        }
        self.db.write_at_next_count(|batch, count| {
            self.db.put_account_data(batch, target, room_id, kind, &content, count)
        })?;
        Ok(())
    }

    /// The tags of a room (`{tag: {order?}}`).
    pub fn tags(&self, caller: &UserId, target: &UserId, room_id: &RoomId) -> Result<Map<String, Value>> {
        only_own(caller, target)?;
        Ok(self.tag_map(target, room_id)?)
    }

    /// Adds or replaces one tag.
    pub fn set_tag(&self, caller: &UserId, target: &UserId, room_id: &RoomId, tag: &str, info: Value) -> Result<()> {
        only_own(caller, target)?;
        let mut tags = self.tag_map(target, room_id)?;
        tags.insert(tag.to_owned(), info);
        self.write_tags(target, room_id, tags)
    }

    /// Removes one tag (absent tags are fine).
    pub fn delete_tag(&self, caller: &UserId, target: &UserId, room_id: &RoomId, tag: &str) -> Result<()> {
        only_own(caller, target)?;
        let mut tags = self.tag_map(target, room_id)?;
        tags.remove(tag);
        self.write_tags(target, room_id, tags)
    }

    fn tag_map(&self, user_id: &UserId, room_id: &RoomId) -> accord_db::Result<Map<String, Value>> {
        Ok(self
            .db
            .get_account_data(user_id, Some(room_id), TAG_EVENT)?
            .and_then(|content| content.get("tags").and_then(Value::as_object).cloned())
            .unwrap_or_default())
    }

    fn write_tags(&self, user_id: &UserId, room_id: &RoomId, tags: Map<String, Value>) -> Result<()> {
        let mut content = Map::new();
        content.insert("tags".to_owned(), Value::Object(tags));
        let content = Value::Object(content);
        self.db.write_at_next_count(|batch, count| {
            self.db
                .put_account_data(batch, user_id, Some(room_id), TAG_EVENT, &content, count)
        })?;
        Ok(())
    }
}
