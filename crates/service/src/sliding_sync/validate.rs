//! Request checks made before anything is read or changed: a bad request gets
//! `M_INVALID_PARAM` naming the field, and its connection stays as it was.
//!
//! Malformed JSON (a negative count, a range that is not a pair, a room id that is not one)
//! never reaches here: ruma's types refuse it with `M_BAD_JSON`.

use ruma::api::client::sync::sync_events::v5::Request;

use crate::{Error, Result};

/// Largest `timeline_limit` served. A client asking more wants a history page, which
/// `/messages` gives.
pub(crate) const MAX_TIMELINE_LIMIT: u64 = 1000;

/// Most lists, room subscriptions and ranges in one request, and longest names.
/// Lists and subscriptions as Synapse and Complement's TestMSC4186SlidingSyncMaxLimits bound
/// them; list names as Synapse does.
const MAX_LISTS: usize = 100;
const MAX_SUBSCRIPTIONS: usize = 100;
const MAX_LIST_NAME_LEN: usize = 64;
const MAX_RANGES: usize = 100;
const MAX_REQUIRED_STATE: usize = 1000;
const MAX_NAME_LEN: usize = 256;

/// Refuses a request the server will not answer.
pub(crate) fn check(request: &Request) -> Result<()> {
    if let Some(conn_id) = &request.conn_id
        && conn_id.len() > MAX_NAME_LEN
    {
        return Err(invalid(format!("conn_id is longer than {MAX_NAME_LEN} bytes")));
    }
    if request.lists.len() > MAX_LISTS {
        return Err(invalid(format!("at most {MAX_LISTS} lists are allowed")));
    }
    if request.room_subscriptions.len() > MAX_SUBSCRIPTIONS {
        return Err(invalid(format!(
            "at most {MAX_SUBSCRIPTIONS} room subscriptions are allowed"
        )));
    }
    for (name, list) in &request.lists {
        if name.len() > MAX_LIST_NAME_LEN {
            return Err(invalid(format!("list names are at most {MAX_LIST_NAME_LEN} bytes")));
        }
        if list.ranges.len() > MAX_RANGES {
            return Err(invalid(format!(
                "list {name:?}: at most {MAX_RANGES} ranges are allowed"
            )));
        }
        for (start, end) in &list.ranges {
            if start > end {
                return Err(invalid(format!(
                    "list {name:?}: range [{start}, {end}] ends before it starts"
                )));
            }
        }
        check_room_details(
            &format!("list {name:?}"),
            list.room_details.timeline_limit,
            list.room_details.required_state.len(),
        )?;
    }
    for (room_id, subscription) in &request.room_subscriptions {
        check_room_details(
            &format!("room subscription {room_id}"),
            subscription.timeline_limit,
            subscription.required_state.len(),
        )?;
    }
    let extensions = &request.extensions;
    let scoped = [
        ("account_data", extensions.account_data.lists.as_ref()),
        ("receipts", extensions.receipts.lists.as_ref()),
        ("typing", extensions.typing.lists.as_ref()),
    ];
    for (extension, lists) in scoped {
        for name in lists.into_iter().flatten() {
            if name != "*" && !request.lists.contains_key(name) {
                return Err(invalid(format!(
                    "extension {extension} names list {name:?}, which this request does not have"
                )));
            }
        }
    }
    Ok(())
}

fn check_room_details(what: &str, timeline_limit: ruma::UInt, required_state: usize) -> Result<()> {
    if u64::from(timeline_limit) > MAX_TIMELINE_LIMIT {
        return Err(invalid(format!(
            "{what}: timeline_limit is at most {MAX_TIMELINE_LIMIT}; page further back with /messages"
        )));
    }
    if required_state > MAX_REQUIRED_STATE {
        return Err(invalid(format!(
            "{what}: at most {MAX_REQUIRED_STATE} required_state entries are allowed"
        )));
    }
    Ok(())
}

fn invalid(message: String) -> Error {
    Error::invalid_param(message)
}
