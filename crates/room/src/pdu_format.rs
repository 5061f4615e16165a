//! The format check of a PDU received from another server.
//!
//! ruma's [`state_res::check_pdu_format`] follows the spec to the letter and caps `state_key` at
//! 255 bytes. Synapse caps it at 255 code points, so a Synapse room can hold a state event whose
//! key is 70 four-byte emoji (280 bytes); refusing it would leave every later event of that room
//! with a gap we can never close (Complement's TestOutboundFederationEventSizeGetMissingEvents
//! sends exactly that). We accept what Synapse accepts, and apply every other check as ruma does.

use ruma::{CanonicalJsonObject, CanonicalJsonValue, room_version_rules::EventFormatRules, state_res};

/// The most code points a received `state_key` may have (Synapse's limit; the spec says bytes).
const MAX_STATE_KEY_CODE_POINTS: usize = 255;

/// Checks `pdu` as [`state_res::check_pdu_format`] does, except that `state_key` is measured in
/// code points.
pub fn check_received_pdu_format(pdu: &CanonicalJsonObject, rules: &EventFormatRules) -> Result<(), String> {
    match pdu.get("state_key") {
        Some(CanonicalJsonValue::String(key)) if key.len() > ruma::ID_MAX_BYTES => {
            if key.chars().count() > MAX_STATE_KEY_CODE_POINTS {
                return Err(format!(
                    "invalid `state_key` field in PDU: longer than {MAX_STATE_KEY_CODE_POINTS} code points"
                ));
            }
            // Long in bytes but not in code points: check the rest with a short stand-in key.
            // The whole-PDU size limit is checked on the original first, as the stand-in
            // shrinks it.
            let size = serde_json::to_string(pdu)
                .map(|json| json.len())
                .map_err(|err| format!("Failed to serialize canonical JSON: {err}"))?;
            if size > MAX_PDU_BYTES {
                return Err(format!("PDU is larger than maximum of {MAX_PDU_BYTES} bytes"));
            }
            let mut shortened = pdu.clone();
            shortened.insert("state_key".to_owned(), CanonicalJsonValue::String(String::new()));
            state_res::check_pdu_format(&shortened, rules)
        }
        _ => state_res::check_pdu_format(pdu, rules),
    }
}

/// The spec's size limit of a whole PDU, signatures included.
const MAX_PDU_BYTES: usize = 65_535;

#[cfg(test)]
mod tests {
    use ruma::room_version_rules::RoomVersionRules;
    use serde_json::json;

    use super::*;

    fn pdu(state_key: &str) -> CanonicalJsonObject {
        let value = json!({
            "type": "my.room.breaker",
            "sender": "@alice:example.org",
            "room_id": "!room:example.org",
            "state_key": state_key,
            "prev_events": [],
            "auth_events": [],
            "depth": 3,
            "content": {},
        });
        serde_json::from_value(value).expect("a canonical JSON object")
    }

    #[test]
    fn a_state_key_of_255_code_points_passes_even_when_longer_in_bytes() {
        let rules = RoomVersionRules::V10.event_format;
        let emoji = "💥".repeat(70);
        assert!(emoji.len() > 255);
        assert_eq!(check_received_pdu_format(&pdu(&emoji), &rules), Ok(()));
        assert!(check_received_pdu_format(&pdu(&"💥".repeat(256)), &rules).is_err());
        assert!(check_received_pdu_format(&pdu(&"a".repeat(256)), &rules).is_err());
        assert_eq!(check_received_pdu_format(&pdu("short"), &rules), Ok(()));
    }
}
